package sheet_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"baocun"
	"baocun/sheet"
	"baocun/sheet/sheettest"
)

const villages = "code,name,county\n\nV1, 甲村 ,县A\n\"V2\",\"乙村, 东\",县B\n"

func gb18030(t *testing.T, s string) []byte {
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func xlsx(t *testing.T, rows [][]any) []byte {
	f := excelize.NewFile()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRead(t *testing.T) {
	want := &sheet.Table{
		HeaderLine: 1,
		Header:     []string{"code", "name", "county"},
		Rows:       []baocun.Row{{Line: 3, Cells: []string{"V1", "甲村", "县A"}}, {Line: 4, Cells: []string{"V2", "乙村, 东", "县B"}}},
	}
	wantXLSX := &sheet.Table{HeaderLine: 1, Header: want.Header, Rows: []baocun.Row{{Line: 3, Cells: want.Rows[0].Cells}, {Line: 4, Cells: want.Rows[1].Cells}}}
	tests := []struct {
		name        string
		data        []byte
		contentType string
		want        *sheet.Table
	}{
		{"UTF-8", []byte(villages), "text/csv", want},
		// Separators, line ends and doubled quotes inside quotes are the field's own.
		{"quoted separators", []byte("code,name,county\n\nV1,\"甲村" + strings.Repeat(",", 2*sheet.MaxColumns) + "\n\"\"\",县A\n"), "text/csv",
			&sheet.Table{HeaderLine: 1, Header: want.Header, Rows: []baocun.Row{{Line: 3, Cells: []string{"V1", "甲村" + strings.Repeat(",", 2*sheet.MaxColumns) + "\n\"", "县A"}}}}},
		{"UTF-8 with BOM", append([]byte{0xEF, 0xBB, 0xBF}, villages...), "text/csv", want},
		{"GB18030 as Excel writes it", gb18030(t, villages), "text/csv", want},
		{"XLSX", xlsx(t, [][]any{{"code", "name", "county"}, {}, {"V1", " 甲村 ", "县A"}, {"V2", "乙村, 东", "县B"}}), sheet.XLSXType, wantXLSX},
		{"XLSX recognised without its media type", xlsx(t, [][]any{{"code", "name", "county"}, {}, {"V1", "甲村", "县A"}, {"V2", "乙村, 东", "县B"}}), "application/octet-stream", wantXLSX},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sheet.Read(tt.data, tt.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		line, col int
	}{
		{"empty", "", 0, 0},
		{"only blank lines", "\n\n", 0, 0},
		{"bare quote", "code,name\nV1,甲\"村\n", 2, 5},
		{"unterminated quote", "code,name\nV1,\"甲村\n", 2, 0},
		{"broken XLSX", "PK\x03\x04not really a zip", 0, 0},
		// UTF-8 with one stray byte must not be taken for GB18030 and imported garbled.
		{"UTF-8 with a stray byte", "code,name\nV1,张家村\nV2,李\xff家村\nV3,王家村\n", 3, 5},
		// A record is bounded before encoding/csv splits it: at the separator over the
		// column limit, and at the byte over the line limit, quoted lines and all.
		{"a line of commas", "code,name\n" + strings.Repeat(",", 1<<20), 2, sheet.MaxColumns + 1},
		{"a quoted field of many lines", "code,name\nV1,\"" + strings.Repeat("长,\n", sheet.MaxLineBytes/5) + "\"\n", 2, 1},
		{"a line of CRLF commas", "code,name\r\n\r\n" + strings.Repeat(",", sheet.MaxColumns) + "\r\n", 3, sheet.MaxColumns + 1},
		// The file's first problem is the one reported.
		{"a bare quote before a long line", "code,name\nV1,甲\"村\nV2," + strings.Repeat("x", sheet.MaxLineBytes) + "\n", 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sheet.Read([]byte(tt.data), "text/csv")
			var se *sheet.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *sheet.Error", err)
			}
			if se.Line != tt.line || (tt.col != 0 && se.Column != tt.col) {
				t.Fatalf("err = %v (line %d, column %d), want line %d column %d", se, se.Line, se.Column, tt.line, tt.col)
			}
		})
	}
}

// FuzzRead: no input makes Read panic, and every failure is a *sheet.Error.
func FuzzRead(f *testing.F) {
	f.Add([]byte(villages), "text/csv")
	f.Add([]byte("a,\"b\nc"), "text/csv")
	f.Add([]byte("PK\x03\x04"), sheet.XLSXType)
	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		_, err := sheet.Read(data, contentType)
		var se *sheet.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("error %v is not a *sheet.Error", err)
		}
	})
}

// What is written reads back the same, as CSV and as every sheet of an XLSX.
func TestWriteReadsBack(t *testing.T) {
	s := sheet.Sheet{Name: "表彰名单", Header: []string{"类别 kind", "姓名 name"}, Rows: [][]string{{"优秀包村干部", "张三"}, {"先进单位", "市财政局, \"一处\""}}}
	var csvOut, xlsxOut bytes.Buffer
	if err := sheet.WriteCSV(&csvOut, s); err != nil {
		t.Fatal(err)
	}
	other := sheet.Sheet{Name: "结对排名", Header: []string{"名次 rank"}, Rows: [][]string{{"1"}}}
	if err := sheet.WriteXLSX(&xlsxOut, s, other); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"csv": csvOut.Bytes(), "xlsx": xlsxOut.Bytes()} {
		tab, err := sheet.Read(data, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(tab.Header) != fmt.Sprint(s.Header) || len(tab.Rows) != 2 || tab.Rows[1].Cells[1] != "市财政局, \"一处\"" {
			t.Errorf("%s read back %+v", name, tab)
		}
	}
	f, err := excelize.OpenReader(bytes.NewReader(xlsxOut.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetSheetList(); fmt.Sprint(got) != "[表彰名单 结对排名]" {
		t.Errorf("sheets %v", got)
	}
}

// Every hostile file is refused naming the limit it broke: none is unpacked past
// the limits (the web suite measures the heap of each through every upload route;
// BenchmarkReadBombs how soon each is refused).
func TestReadRefusesBombs(t *testing.T) {
	for _, b := range sheettest.Bombs() {
		t.Run(b.Name, func(t *testing.T) {
			_, err := sheet.Read(b.Data, b.ContentType)
			var se *sheet.Error
			if !errors.As(err, &se) || !strings.Contains(se.Message, b.Want) {
				t.Fatalf("%d bytes: err = %v, want a *sheet.Error naming %q", len(b.Data), err, b.Want)
			}
		})
	}
}

// BenchmarkReadBombs: how long each hostile file takes to refuse, beside the floor
// of reading a good file at the row limit (50,000 rows of CSV, and of XLSX) in the
// same run. Every bomb should be refused sooner than the good file is read.
//
//	go test -run '^$' -bench ReadBombs -benchtime 3x ./sheet/
func BenchmarkReadBombs(b *testing.B) {
	var csvFile bytes.Buffer
	rows := [][]any{{"department_code", "village_code", "kind"}}
	csvFile.WriteString("department_code,village_code,kind\n")
	for i := range sheet.MaxRows - 1 {
		fmt.Fprintf(&csvFile, "D%03d,V%05d,帮扶\n", i%100, i)
		rows = append(rows, []any{fmt.Sprintf("D%03d", i%100), fmt.Sprintf("V%05d", i), "帮扶"})
	}
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	var xlsxFile bytes.Buffer
	if err := f.Write(&xlsxFile); err != nil {
		b.Fatal(err)
	}
	for _, good := range []sheettest.Bomb{{Name: "floor: good CSV at the row limit", Data: csvFile.Bytes(), ContentType: "text/csv"},
		{Name: "floor: good XLSX at the row limit", Data: xlsxFile.Bytes(), ContentType: sheet.XLSXType}} {
		b.Run(good.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := sheet.Read(good.Data, good.ContentType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, bomb := range sheettest.Bombs() {
		b.Run(bomb.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := sheet.Read(bomb.Data, bomb.ContentType); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// The parts excelize parses are read as it reads them: a sheet is wherever the
// workbook's relationships say, whatever it is called; a part the walk cannot read
// as it stands is refused, naming the part, never left for excelize to decode.
func TestReadXLSXParts(t *testing.T) {
	head, tail := sheettest.WorksheetHead, `</sheetData></worksheet>`
	code := `<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row>`
	manyRows := head + strings.Repeat("<row/>", sheet.MaxRows+1) + tail
	rels := func(target string) string {
		return `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="` + target + `"/></Relationships>`
	}
	strict := map[string]string{
		// Strict OOXML's relationship type; a workbook at the top; a sheet's target absolute.
		"_rels/.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" Target="/book.xml"/></Relationships>`,
		"book.xml": `<workbook xmlns="http://purl.oclc.org/ooxml/spreadsheetml/main" xmlns:r="http://purl.oclc.org/ooxml/officeDocument/relationships">` +
			`<sheets><sheet name="S" sheetId="1" r:id="rId7"/></sheets></workbook>`,
		"_rels/book.xml.rels": strings.Replace(rels("/data/S"), "rId1", "rId7", 1),
		"data/S":              manyRows,
	}
	tests := []struct {
		name  string
		parts map[string]string
		want  string // the refusal; "" for a file read
	}{
		{"a sheet named .bin", map[string]string{"xl/_rels/workbook.xml.rels": rels("worksheets/sheet1.bin"), "xl/worksheets/sheet1.bin": manyRows},
			fmt.Sprintf("xl/worksheets/sheet1.bin has more than %d rows", sheet.MaxRows)},
		{"a sheet elsewhere, by a relative path", map[string]string{"xl/_rels/workbook.xml.rels": rels("../other/./S.xml"), "other/S.xml": manyRows},
			fmt.Sprintf("other/S.xml has more than %d rows", sheet.MaxRows)},
		{"a Strict workbook at the top", strict, fmt.Sprintf("data/S has more than %d rows", sheet.MaxRows)},
		// excelize's decoder keeps the last of a repeated attribute.
		{"a repeated target", map[string]string{"xl/_rels/workbook.xml.rels": strings.Replace(rels("worksheets/sheet1.xml"), "/>", ` Target="worksheets/sheet1.bin"/>`, 1),
			"xl/worksheets/sheet1.bin": manyRows}, fmt.Sprintf("xl/worksheets/sheet1.bin has more than %d rows", sheet.MaxRows)},
		{"a sheet elsewhere within the limits, and an image", map[string]string{"xl/_rels/workbook.xml.rels": rels("S.bin"),
			"xl/S.bin": head + code + tail, "xl/media/image1.png": "\x89PNG\r\n\x1a\n not XML"}, ""},
		{"malformed XML", map[string]string{"xl/worksheets/sheet1.xml": head + code + `<row r="2"><c r="A2" t="inlineStr"><is><t>a & b</t></is></c></row>` + tail},
			"xl/worksheets/sheet1.xml is not well-formed XML"},
		{"XML cut short", map[string]string{"xl/worksheets/sheet1.xml": head + code}, "xl/worksheets/sheet1.xml ends with 2 XML elements left open"},
		{"malformed XML in a part excelize does not read", map[string]string{"customXml/item1.xml": "<a><b></a"}, "customXml/item1.xml is not well-formed XML"},
		{"GBK", map[string]string{"xl/styles.xml": `<?xml version="1.0" encoding="GBK"?><styleSheet/>`}, `xl/styles.xml declares the encoding "GBK"`},
		{"an encoding declared midway", map[string]string{"xl/worksheets/sheet1.xml": head + `<?xml version="1.0" encoding="UTF-16"?>` + code + tail},
			`xl/worksheets/sheet1.xml declares the encoding "UTF-16"`},
		{"UTF-8 declared in any case", map[string]string{"xl/worksheets/sheet1.xml": strings.Replace(head, "UTF-8", "utf-8", 1) + code + tail}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := sheet.Read(sheettest.Workbook(tt.parts), sheet.XLSXType)
			if tt.want == "" {
				if err != nil || len(tab.Header) != 1 || tab.Header[0] != "code" {
					t.Fatalf("read %+v, %v; want the header [code]", tab, err)
				}
				return
			}
			var se *sheet.Error
			if !errors.As(err, &se) || !strings.Contains(se.Message, tt.want) {
				t.Fatalf("err = %v, want a *sheet.Error naming %q", err, tt.want)
			}
		})
	}
}

// Text marks every cell a spreadsheet would run as a formula (OWASP's list), and
// leaves the rest as they are.
func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example","点我")`: `'=HYPERLINK("http://evil.example","点我")`,
		"+1+cmd|' /C calc'!A0":                   "'+1+cmd|' /C calc'!A0",
		"-2+3":                                   "'-2+3",
		"@SUM(A1)":                               "'@SUM(A1)",
		"\t=1":                                   "'\t=1",
		"\r=1":                                   "'\r=1",
		"\n=1":                                   "'\n=1",
		"\nplain":                                "'\nplain",
		" =1+1":                                  "' =1+1",
		"\u3000＝HYPERLINK(1)":                    "'\u3000＝HYPERLINK(1)",
		"＋1":                                     "'＋1",
		"－1":                                     "'－1",
		"＠SUM(A1)":                               "'＠SUM(A1)",
		" 张三":                                    " 张三",
		"张三":                                     "张三",
		"a=b":                                    "a=b",
		"":                                       "",
		"'=already":                              "'=already",
	} {
		if got := sheet.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

// An export carries a hostile cell as text: the CSV marks it, and the XLSX writes
// it as a string, with no formula anywhere in the workbook.
func TestExportsNeverWriteFormulas(t *testing.T) {
	evil := []string{`=HYPERLINK("http://evil.example","点我")`, "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"}
	s := sheet.Sheet{Name: "导出 export", Header: []string{"=header", "b", "c", "d", "e", "f"}, Rows: [][]string{evil}}
	var csvOut bytes.Buffer
	if err := sheet.WriteCSV(&csvOut, s); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(csvOut.Bytes(), []byte("\xEF\xBB\xBF'=header,b,c,d,e,f\r\n")) {
		t.Fatalf("CSV starts %q, want a byte-order mark, the marked header and CRLF", csvOut.Bytes()[:min(20, csvOut.Len())])
	}
	recs, err := csv.NewReader(bytes.NewReader(csvOut.Bytes()[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// With CRLF line ends encoding/csv writes no lone carriage return: the cell
	// keeps its mark in front of what is left.
	if !bytes.Contains(csvOut.Bytes(), []byte(",\"'=1\"\r\n")) {
		t.Errorf("CSV %q does not hold the marked carriage-return cell", csvOut.Bytes())
	}
	for i, v := range recs[1][:len(evil)-1] {
		if v != "'"+evil[i] {
			t.Errorf("CSV cell %d = %q, want %q", i, v, "'"+evil[i])
		}
	}

	var xlsxOut bytes.Buffer
	if err := sheet.WriteXLSX(&xlsxOut, s); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(xlsxOut.Bytes()), int64(xlsxOut.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(b, []byte("<f>")) || bytes.Contains(b, []byte("<f ")) {
			t.Errorf("%s holds a formula: %s", zf.Name, b)
		}
	}
	f, err := excelize.OpenReader(bytes.NewReader(xlsxOut.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range evil {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		formula, _ := f.GetCellFormula(s.Name, cell)
		typ, _ := f.GetCellType(s.Name, cell)
		got, _ := f.GetCellValue(s.Name, cell)
		if formula != "" || typ != excelize.CellTypeInlineString || got != v {
			t.Errorf("%s: formula %q, type %v, value %q; want the text %q", cell, formula, typ, got, v)
		}
	}
}
