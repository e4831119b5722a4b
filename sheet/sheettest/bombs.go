// Package sheettest builds hostile spreadsheets for tests: decompression bombs and
// files over each of package sheet's limits, made in memory (none is more than a
// megabyte packed), so no fixture file need hold one.
package sheettest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/encoding/unicode"

	"baocun/sheet"
)

// Bomb is one hostile file and a word of the refusal it must get (the limit's
// name as the message gives it).
type Bomb struct {
	Name        string
	Data        []byte
	ContentType string
	Want        string
}

// Bombs are the hostile files: built once, a few seconds' work, then shared.
func Bombs() []Bomb {
	once.Do(build)
	return bombs
}

var (
	once  sync.Once
	bombs []Bomb
)

func build() {
	const big = 512 << 20 // what one 0.5 MB upload unpacked to, by the report
	huge := hugePart(big)

	rows := func(w io.Writer) {
		for i := 1; i <= sheet.MaxRows+10; i++ {
			fmt.Fprintf(w, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>`, i, i)
		}
	}
	texts := func(w io.Writer) {
		io.WriteString(w, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
		for i := range sheet.MaxSharedStrings + 10 {
			fmt.Fprintf(w, "<si><t>%d</t></si>", i)
		}
		io.WriteString(w, `</sst>`)
	}
	var manyParts []part
	for i := range sheet.MaxParts + 1 {
		manyParts = append(manyParts, part{name: fmt.Sprintf("customXml/item%d.xml", i), data: []byte("<a/>")})
	}
	var fatParts []part
	for i := range sheet.MaxUnzipBytes/(1<<20) + 1 {
		fatParts = append(fatParts, part{name: fmt.Sprintf("customXml/item%d.xml", i), data: bytes.Repeat([]byte(" "), 1<<20)})
	}
	wide := func(w io.Writer) {
		io.WriteString(w, `<row r="1">`)
		for c := 1; c <= sheet.MaxColumns+1; c++ {
			fmt.Fprintf(w, `<c r="%s1" t="inlineStr"><is><t>h%d</t></is></c>`, column(c), c)
		}
		io.WriteString(w, `</row>`)
	}
	oneText := func(w io.Writer) {
		for i := 1; i <= sheet.MaxRows; i++ {
			fmt.Fprintf(w, `<row r="%d"><c r="A%d" t="s"><v>0</v></c></row>`, i, i)
		}
	}
	longText := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><r><t>` +
		strings.Repeat("长", (sheet.MaxCellBytes-16)/3) + `</t></r></si></sst>`
	// Deep XML that fills a worksheet part to its limit: what excelize would unpack
	// and parse, unchecked, if the walk missed the part.
	deep := func(limit int) func(io.Writer) {
		return func(w io.Writer) {
			io.WriteString(w, WorksheetHead)
			io.WriteString(w, `<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row><row r="2"><c r="A2">`)
			io.WriteString(w, strings.Repeat("<a>", (limit-1024)/3))
		}
	}
	utf16 := func(xml []byte) []byte {
		body, err := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().Bytes(xml)
		if err != nil {
			panic(err)
		}
		return append([]byte(`<?xml version="1.0" encoding="UTF-16LE"?>`), body...)
	}
	// The CSV bombs fill an upload's 8 MiB, a multipart form's framing aside.
	const csvBody = 8<<20 - 4<<10
	var csvLines, csvLong bytes.Buffer
	csvLines.WriteString("department_code,village_code,kind\n")
	for range sheet.MaxRows + 10 {
		csvLines.WriteString("D1,V1,包扶\n")
	}
	csvLong.WriteString("department_code,village_code,kind\nD1,")
	csvLong.WriteString(strings.Repeat("V", sheet.MaxLineBytes+1))
	csvLong.WriteString(",包扶\n")

	bombs = []Bomb{
		{Name: "one huge part", Data: workbook(part{name: "xl/worksheets/sheet1.xml", raw: huge}), Want: "MiB a part"},
		{Name: "a part lying about its size", Data: workbook(part{name: "xl/worksheets/sheet1.xml", raw: huge, lie: true}), Want: "damaged"},
		{Name: "a huge part excelize does not read", Data: workbook(part{name: "docProps/custom.bin", raw: huge}), Want: "MiB a part"},
		{Name: "many parts", Data: workbook(manyParts...), Want: fmt.Sprintf("limit of %d", sheet.MaxParts)},
		{Name: "many parts over the total", Data: workbook(fatParts...), Want: fmt.Sprintf("more than %d MiB", sheet.MaxUnzipBytes>>20)},
		{Name: "deep XML", Data: workbook(part{name: "xl/worksheets/sheet1.xml", data: streamed(func(w io.Writer) {
			io.WriteString(w, WorksheetHead)
			io.WriteString(w, strings.Repeat("<row>", 1_000_000))
		})}), Want: fmt.Sprintf("more than %d levels", sheet.MaxXMLDepth)},
		{Name: "many rows", Data: workbook(part{name: "xl/worksheets/sheet1.xml", data: sheetOf(rows)}), Want: fmt.Sprintf("more than %d rows", sheet.MaxRows)},
		{Name: "a far row", Data: workbook(part{name: "xl/worksheets/sheet1.xml", data: sheetOf(func(w io.Writer) {
			io.WriteString(w, `<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row>`)
			io.WriteString(w, `<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>`)
		})}), Want: fmt.Sprintf("past line %d", sheet.MaxRows)},
		{Name: "many shared strings", Data: workbook(part{name: "xl/sharedStrings.xml", data: streamed(texts)}), Want: fmt.Sprintf("more than %d distinct texts", sheet.MaxSharedStrings)},
		{Name: "a huge shared-strings part", Data: workbook(part{name: "xl/sharedStrings.xml", raw: huge}), Want: "MiB a part"},
		{Name: "one long text in every cell", Data: workbook(part{name: "xl/sharedStrings.xml", data: []byte(longText)},
			part{name: "xl/worksheets/sheet1.xml", data: sheetOf(oneText)}), Want: fmt.Sprintf("past %d MiB", sheet.MaxTextBytes>>20)},
		{Name: "a text over the cell limit", Data: workbook(part{name: "xl/sharedStrings.xml", data: []byte(strings.Replace(longText, "</t>", strings.Repeat("x", 64)+"</t>", 1))}),
			Want: fmt.Sprintf("over %d KiB", sheet.MaxCellBytes>>10)},
		{Name: "a long number format", Data: workbook(part{name: "xl/styles.xml", data: []byte(`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
			`<numFmts count="1"><numFmt numFmtId="164" formatCode="` + strings.Repeat("0", 100_000) + `"/></numFmts></styleSheet>`)}),
			Want: fmt.Sprintf("longer than %d characters", sheet.MaxFormatCode)},
		{Name: "wide rows", Data: workbook(part{name: "xl/worksheets/sheet1.xml", data: sheetOf(wide)}), Want: fmt.Sprintf("more than %d columns", sheet.MaxColumns)},
		// A part that declares another encoding is what excelize decodes (charset.NewReaderLabel):
		// the walk must not read it as UTF-8 and take the mess for malformed XML.
		{Name: "a worksheet in UTF-16", Data: workbook(part{name: "xl/worksheets/sheet1.xml", data: utf16(streamed(deep(sheet.MaxPartBytes / 2)))}),
			Want: `declares the encoding "UTF-16LE"`},
		{Name: "shared strings in UTF-16", Data: workbook(part{name: "xl/sharedStrings.xml", data: utf16(streamed(texts))},
			part{name: "xl/worksheets/sheet1.xml", data: sheetOf(func(w io.Writer) { io.WriteString(w, `<row r="1"><c r="A1" t="s"><v>0</v></c></row>`) })}),
			Want: `declares the encoding "UTF-16LE"`},
		// The workbook's relationships name the sheet, whatever the part is called.
		{Name: "a worksheet not named .xml", Data: workbook(sheetAt("worksheets/sheet1.bin", streamed(deep(sheet.MaxPartBytes)))...),
			Want: fmt.Sprintf("more than %d levels", sheet.MaxXMLDepth)},
		{Name: "a worksheet elsewhere", Data: workbook(sheetAt("data/rows.xml", streamed(func(w io.Writer) {
			io.WriteString(w, WorksheetHead)
			io.WriteString(w, strings.Repeat("<row/>", sheet.MaxRows+10))
			io.WriteString(w, `</sheetData></worksheet>`)
		}))...), Want: fmt.Sprintf("xl/data/rows.xml has more than %d rows", sheet.MaxRows)},
		{Name: "CSV of many lines", Data: csvLines.Bytes(), ContentType: "text/csv", Want: fmt.Sprintf("past line %d", sheet.MaxRows)},
		{Name: "CSV with a long line", Data: csvLong.Bytes(), ContentType: "text/csv", Want: fmt.Sprintf("limit of %d bytes", sheet.MaxLineBytes)},
		// One record of eight million empty fields, were it split before it is counted.
		{Name: "CSV of commas", Data: append([]byte("code,name\n"), bytes.Repeat([]byte(","), csvBody)...), ContentType: "text/csv",
			Want: fmt.Sprintf("more than %d columns", sheet.MaxColumns)},
		// Blank lines each as wide as a line may be, up to the last line a file may use.
		{Name: "CSV of blank lines of commas", Data: append([]byte("code,name\n"), bytes.Repeat([]byte(strings.Repeat(",", sheet.MaxColumns-1)+"\n"), csvBody/sheet.MaxColumns)...),
			ContentType: "text/csv", Want: fmt.Sprintf("past line %d", sheet.MaxRows)},
	}
	for i := range bombs {
		if bombs[i].ContentType == "" {
			bombs[i].ContentType = sheet.XLSXType
		}
	}
}

// WorksheetHead is how a worksheet's XML starts, up to its rows.
const WorksheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
	`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`

// HugePart is a worksheet of n bytes of spaces inside its sheetData (n a multiple of
// a mebibyte), deflated as flate's best compression would, about a thousandth of its
// size. Deflating half a gigabyte takes seconds (a minute under the race detector),
// so only the first mebibytes are: once the window holds nothing but spaces, each
// further mebibyte deflates, after a flush, to the same bytes, which are repeated.
func HugePart(n int64) (data []byte, size uint64, crc uint32) {
	const mib = 1 << 20
	head, tail := []byte(WorksheetHead), []byte(`</sheetData></worksheet>`)
	block := bytes.Repeat([]byte(" "), mib)
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	chunk := func(p ...[]byte) []byte {
		for _, x := range p {
			fw.Write(x)
		}
		fw.Flush()
		out := bytes.Clone(b.Bytes())
		b.Reset()
		return out
	}
	first, unit, again := chunk(head, block), chunk(block), chunk(block)
	if !bytes.Equal(unit, again) {
		panic("sheettest: flate no longer deflates a mebibyte of spaces alike each time")
	}
	fw.Write(tail)
	fw.Close()
	out := append(first, bytes.Repeat(unit, int(n/mib)-1)...)
	out = append(out, b.Bytes()...)
	h := crc32.NewIEEE()
	h.Write(head)
	for range n / mib {
		h.Write(block)
	}
	h.Write(tail)
	return out, uint64(len(head)) + uint64(n) + uint64(len(tail)), h.Sum32()
}

func hugePart(n int64) rawPart {
	data, size, crc := HugePart(n)
	return rawPart{data: data, size: size, crc: crc, packedLen: uint64(len(data))}
}

func sheetOf(rows func(io.Writer)) []byte {
	return streamed(func(w io.Writer) {
		io.WriteString(w, WorksheetHead)
		rows(w)
		io.WriteString(w, `</sheetData></worksheet>`)
	})
}

func streamed(write func(io.Writer)) []byte {
	var b bytes.Buffer
	write(&b)
	return b.Bytes()
}

// rawPart is a part already deflated, with its true size and checksum.
type rawPart struct {
	data      []byte
	size      uint64
	crc       uint32
	packedLen uint64
}

// part is one member of a workbook: its bytes, or a part deflated already (whose
// stated size may lie).
type part struct {
	name string
	data []byte
	raw  rawPart
	lie  bool
}

// Workbook is a minimal XLSX that excelize opens (its one sheet holds "code" in A1),
// with the parts given, by name, added or replacing its own.
func Workbook(parts map[string]string) []byte {
	var extra []part
	for _, name := range slices.Sorted(maps.Keys(parts)) {
		extra = append(extra, part{name: name, data: []byte(parts[name])})
	}
	return workbook(extra...)
}

// workbook is a minimal XLSX that excelize opens, with parts added or replacing its own.
func workbook(extra ...part) []byte {
	parts := []part{
		{name: "[Content_Types].xml", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`)},
		{name: "_rels/.rels", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
		{name: "xl/workbook.xml", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
			`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)},
		{name: "xl/_rels/workbook.xml.rels", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`)},
		{name: "xl/worksheets/sheet1.xml", data: sheetOf(func(w io.Writer) {
			io.WriteString(w, `<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row>`)
		})},
	}
	for _, e := range extra {
		replaced := false
		for i := range parts {
			if parts[i].name == e.name {
				parts[i], replaced = e, true
			}
		}
		if !replaced {
			parts = append(parts, e)
		}
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, p := range parts {
		if p.raw.data == nil {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate})
			w.Write(p.data)
			continue
		}
		h := &zip.FileHeader{Name: p.name, Method: zip.Deflate, CRC32: p.raw.crc, CompressedSize64: p.raw.packedLen, UncompressedSize64: p.raw.size}
		if p.lie {
			h.UncompressedSize64 = 1000
		}
		w, _ := zw.CreateRaw(h)
		w.Write(p.raw.data)
	}
	zw.Close()
	return b.Bytes()
}

// sheetAt is a workbook's parts for a first sheet at target (relative to xl/), as
// the workbook's relationships name it.
func sheetAt(target string, data []byte) []part {
	return []part{
		{name: "xl/_rels/workbook.xml.rels", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="` + target + `"/></Relationships>`)},
		{name: "xl/" + target, data: data},
	}
}

// column is the spreadsheet's name of column n (1 → A, 27 → AA).
func column(n int) string {
	s := ""
	for ; n > 0; n = (n - 1) / 26 {
		s = string(rune('A'+(n-1)%26)) + s
	}
	return s
}
