// Package sheet reads the tables officials keep in spreadsheets: CSV as Excel and WPS
// write it (UTF-8 with or without a byte-order mark, or GB18030 on Chinese Windows)
// and XLSX (github.com/xuri/excelize). It returns rows with the line numbers a person
// sees in the file, so an error can say "line 7, column 村名". It writes the
// service's exports (CSV and XLSX) so that Excel never runs a cell as a formula.
package sheet

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"baocun"
)

// XLSXType is the media type of an XLSX workbook.
const XLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Limits on what one file may hold. A city's files are far inside them (20,000
// pairings, a few thousand villages and departments, tens of thousands of people,
// ten columns at most); they are there so that a small upload cannot make the
// service unpack, parse or keep more than a few tens of megabytes, whatever it
// claims to be. A file over one is refused naming it, before the rest is read.
const (
	// MaxRows is the last line (row) a sheet may use, the header's included.
	MaxRows = 50_000
	// MaxColumns is how many columns a row may fill (blank cells at its end aside).
	MaxColumns = 32
	// MaxLineBytes bounds one CSV record.
	MaxLineBytes = 16 << 10
	// MaxCellBytes bounds the text of one XLSX cell or shared string (Excel's own
	// limit is 32,767 characters).
	MaxCellBytes = 32 << 10
	// MaxTextBytes bounds the text of every cell of a file together.
	MaxTextBytes = 16 << 20
	// MaxUnzipBytes bounds an XLSX file's parts unpacked, all together.
	MaxUnzipBytes = 32 << 20
	// MaxPartBytes bounds a worksheet or the shared strings unpacked (a city's
	// largest sheet is about 10 MB of XML); excelize streams them from a temporary
	// file past memoryPartBytes.
	MaxPartBytes = 16 << 20
	// MaxSmallPartBytes bounds every other part unpacked (workbook, styles,
	// relationships, images…): excelize holds those in memory, and parses some whole.
	MaxSmallPartBytes = 1 << 20
	// MaxParts bounds the parts of an XLSX file (Excel writes about a dozen).
	MaxParts = 1000
	// MaxXMLDepth bounds how deeply an XLSX part's XML nests (Excel's: under 10).
	MaxXMLDepth = 64
	// MaxSharedStrings bounds the distinct texts of an XLSX file.
	MaxSharedStrings = 200_000
	// MaxFormatCode bounds a number format's code (Excel's limit): it is applied to
	// every number shown in that format.
	MaxFormatCode = 255

	// memoryPartBytes is excelize's UnzipXMLSizeLimit: a worksheet or shared-strings
	// part larger than this is unpacked to a temporary file and read from there,
	// rather than held in memory whole.
	memoryPartBytes = 1 << 20
)

// Table is the file's header and its non-blank rows, each with the line it stands on
// (for XLSX, the row number Excel shows).
type Table = baocun.Table

// Error is a problem with the file itself, at a line and column when known.
type Error struct {
	Line, Column int
	Message      string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// Read parses data as XLSX (by its zip signature or the XLSX media type) or as CSV.
// Cells are trimmed of surrounding spaces; blank rows are skipped.
func Read(data []byte, contentType string) (*Table, error) {
	if strings.HasPrefix(contentType, XLSXType) || bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return readXLSX(data)
	}
	return readCSV(data)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func readCSV(data []byte) (*Table, error) {
	switch {
	case bytes.HasPrefix(data, utf8BOM):
		data = data[len(utf8BOM):]
	case !utf8.Valid(data):
		decoded, err := decodeGB18030(data)
		if err != nil {
			return nil, err
		}
		data = decoded
	}
	r := csv.NewReader(&records{r: bytes.NewReader(data), line: 1, start: 1})
	r.FieldsPerRecord = -1
	var t builder
	for {
		rec, err := r.Read()
		var se *Error
		var pe *csv.ParseError
		switch {
		case errors.Is(err, io.EOF):
			return t.done()
		case errors.As(err, &se):
			return nil, se
		case errors.As(err, &pe):
			return nil, &Error{Line: pe.Line, Column: runeColumn(data, pe.Line, pe.Column),
				Message: "CSV 格式错误 Malformed CSV: " + pe.Err.Error()}
		case err != nil:
			return nil, &Error{Message: err.Error()}
		}
		line, _ := r.FieldPos(0)
		if err := t.add(line, rec); err != nil {
			return nil, err
		}
	}
}

// records is encoding/csv's input, scanned on its way there: a record longer than
// MaxLineBytes or of more than MaxColumns fields is refused once the scan
// reaches the byte over the limit. encoding/csv reads a whole record and splits it
// into fields before anything can count them — eight megabytes of commas would be
// eight million fields — so it never gets more of one than this lets through (and
// a bufio buffer). The scan keeps no more than its state, following quotes as
// encoding/csv does: a separator or line end inside a quoted field is the field's.
type records struct {
	r           io.Reader
	line, start int // the line being read; the line its record began on
	size, seps  int // the record's bytes and separators so far
	state       byte
	err         error
}

// The scan's states within a record.
const (
	fieldStart    = iota // a field begins: a quote here opens a quoted field
	unquoted             // in a field not quoted
	quoted               // in a quoted field
	quotedOrEnded        // a quote in a quoted field: it ends there, or "" is a quote
)

func (r *records) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case c == '\n' && r.state != quoted:
			r.line++
			r.start, r.size, r.seps, r.state = r.line, 0, 0, fieldStart
			continue
		case c == '\n':
			r.line++
		case r.state == quoted:
			if c == '"' {
				r.state = quotedOrEnded
			}
		case c == ',':
			r.seps++
			r.state = fieldStart
		case c == '"' && (r.state == fieldStart || r.state == quotedOrEnded):
			r.state = quoted
		default:
			r.state = unquoted
		}
		r.size++
		switch {
		case r.size > MaxLineBytes:
			r.err = &Error{Line: r.start, Column: 1, Message: fmt.Sprintf(
				"第 %d 行超过 %d 字节 Line %d is over the limit of %d bytes a line.", r.start, MaxLineBytes, r.start, MaxLineBytes)}
		case r.seps >= MaxColumns:
			r.err = &Error{Line: r.start, Column: MaxColumns + 1, Message: fmt.Sprintf(
				"第 %d 行超过 %d 列 Line %d has more than %d columns (blank ones too), the limit.", r.start, MaxColumns, r.start, MaxColumns)}
		default:
			continue
		}
		return i, r.err
	}
	return n, err
}

// decodeGB18030 decodes a file that is not UTF-8 as GB18030 — Excel on Chinese
// Windows saves CSV in the ANSI code page, GBK, of which GB18030 is the superset —
// unless it is really broken UTF-8. The decoder never fails (it substitutes U+FFFD),
// so a UTF-8 file with one stray byte would otherwise import as mojibake: when the
// file has more valid multi-byte UTF-8 characters than invalid bytes, the stray byte
// is reported where it stands instead.
func decodeGB18030(data []byte) ([]byte, error) {
	valid, invalid, first := 0, 0, -1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			invalid++
			if first < 0 {
				first = i
			}
		case size > 1:
			valid++
		}
		i += max(size, 1)
	}
	if valid > invalid {
		line := bytes.Count(data[:first], []byte("\n")) + 1
		start := bytes.LastIndexByte(data[:first], '\n') + 1
		return nil, &Error{Line: line, Column: utf8.RuneCount(data[start:first]) + 1,
			Message: "文件不是有效的 UTF-8 编码 The file is UTF-8 with an invalid byte here; save it again as UTF-8 or GB18030."}
	}
	decoded, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil || bytes.ContainsRune(decoded, utf8.RuneError) {
		return nil, &Error{Message: "文件编码无法识别 The file is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV or XLSX."}
	}
	return decoded, nil
}

// runeColumn turns encoding/csv's byte column into the character column a person
// counts (a Chinese character is three bytes of UTF-8 but one column).
func runeColumn(data []byte, line, byteCol int) int {
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	if line < 1 || line > len(lines) || byteCol < 1 {
		return byteCol
	}
	l := lines[line-1]
	if byteCol-1 > len(l) {
		return utf8.RuneCount(l) + 1
	}
	return utf8.RuneCount(l[:byteCol-1]) + 1
}

func readXLSX(data []byte) (*Table, error) {
	if err := checkZip(data); err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: MaxUnzipBytes, UnzipXMLSizeLimit: memoryPartBytes})
	if err != nil {
		return nil, &Error{Message: "无法读取 XLSX 文件 Cannot read the XLSX file: " + err.Error()}
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, &Error{Message: "XLSX 文件没有工作表 The workbook has no sheet."}
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, &Error{Message: "无法读取工作表 Cannot read the first sheet: " + err.Error()}
	}
	defer rows.Close()
	var t builder
	// Rows streams the sheet a row at a time, blank rows included, so the count is
	// the row number Excel shows.
	for line := 1; rows.Next(); line++ {
		if err := t.check(line); err != nil {
			return nil, err
		}
		rec, err := rows.Columns()
		if err != nil {
			return nil, &Error{Line: line, Message: "无法读取工作表 Cannot read the first sheet: " + err.Error()}
		}
		if err := t.add(line, rec); err != nil {
			return nil, err
		}
	}
	if err := rows.Error(); err != nil {
		return nil, &Error{Message: "无法读取工作表 Cannot read the first sheet: " + err.Error()}
	}
	return t.done()
}

// builder collects a file's header and non-blank rows, refusing one past the limits.
type builder struct {
	t    Table
	text int // bytes of every cell so far
}

// check refuses a line past MaxRows, before it is read.
func (b *builder) check(line int) error {
	if line > MaxRows {
		return &Error{Line: line, Column: 1, Message: fmt.Sprintf(
			"文件超过 %d 行，请分成几个文件 The file goes past line %d, the limit; split it into several files.", MaxRows, MaxRows)}
	}
	return nil
}

func (b *builder) add(line int, rec []string) error {
	if err := b.check(line); err != nil {
		return err
	}
	filled := 0
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
		if rec[i] != "" {
			filled = i + 1
		}
		b.text += len(rec[i])
	}
	if filled > MaxColumns {
		return &Error{Line: line, Column: MaxColumns + 1, Message: fmt.Sprintf(
			"第 %d 行超过 %d 列 Line %d fills more than %d columns, the limit.", line, MaxColumns, line, MaxColumns)}
	}
	if b.text > MaxTextBytes {
		return &Error{Line: line, Column: 1, Message: fmt.Sprintf(
			"文件的文字超过 %d MiB The file's text goes past %d MiB, the limit, at line %d.", MaxTextBytes>>20, MaxTextBytes>>20, line)}
	}
	if filled == 0 {
		return nil
	}
	if b.t.Header == nil {
		b.t.Header, b.t.HeaderLine = rec, line
		return nil
	}
	b.t.Rows = append(b.t.Rows, baocun.Row{Line: line, Cells: rec})
	return nil
}

func (b *builder) done() (*Table, error) {
	if b.t.Header == nil {
		return nil, &Error{Message: "文件为空 The file is empty: it needs a header row."}
	}
	return &b.t, nil
}

// checkZip refuses a workbook that would unpack past the limits, before excelize
// unpacks any of it. The sizes come from the zip's directory, and archive/zip holds
// every part to the size stated there (one that inflates further is an error), so a
// bomb is refused on its directory alone; then every part excelize may parse is
// walked once, as it inflates and without being kept, for its nesting, rows, cells
// and texts. What the walk cannot read as it stands — XML it finds malformed, an
// encoding other than UTF-8 — is refused: excelize would read it otherwise (it
// decodes a declared encoding), unchecked.
func checkZip(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &Error{Message: "无法读取 XLSX 文件 Cannot read the XLSX file: " + err.Error()}
	}
	if len(zr.File) > MaxParts {
		return &Error{Message: fmt.Sprintf("XLSX 文件的部件超过 %d 个 The XLSX file has %d parts, more than the limit of %d.", MaxParts, len(zr.File), MaxParts)}
	}
	parts := make(map[string][]*zip.File, len(zr.File))
	var total uint64
	for _, zf := range zr.File {
		name := partName(zf.Name)
		parts[name] = append(parts[name], zf)
		if limit := partLimit(name); zf.UncompressedSize64 > limit {
			return &Error{Message: fmt.Sprintf("XLSX 文件的部件 %s 解压后超过 %s The XLSX part %s unpacks to %d bytes, over the limit of %s a part of its kind.",
				zf.Name, mib(limit), zf.Name, zf.UncompressedSize64, mib(limit))}
		}
		if total += zf.UncompressedSize64; total > MaxUnzipBytes {
			return &Error{Message: fmt.Sprintf("XLSX 文件解压后超过 %s The XLSX file unpacks to more than %s, the limit.", mib(MaxUnzipBytes), mib(MaxUnzipBytes))}
		}
	}
	sheets, err := sheetParts(parts)
	if err != nil {
		return err
	}
	for _, zf := range zr.File {
		name := partName(zf.Name)
		// A part excelize parses has an XML name, or is a sheet the workbook names
		// (the workbooks themselves were walked in finding the sheets). The rest —
		// images, printer settings — excelize keeps as bytes, never parsed.
		if !sheets[name] && !strings.HasSuffix(name, ".xml") && !strings.HasSuffix(name, ".rels") && !strings.HasSuffix(name, ".vml") {
			continue
		}
		if err := walk(zf, kindOf(name, sheets), nil); err != nil {
			return err
		}
	}
	return nil
}

// partName is a part's name as excelize matches it (in any case: a match that
// excelize would make in one case is made in all, which only walks more).
func partName(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "\\", "/"))
}

// Parts excelize streams (past memoryPartBytes) rather than holding whole.
func isSheet(name string) bool { return strings.HasPrefix(name, "xl/worksheets/sheet") }

const (
	sharedStrings = "xl/sharedstrings.xml"
	styles        = "xl/styles.xml"
)

func partLimit(name string) uint64 {
	if isSheet(name) || name == sharedStrings {
		return MaxPartBytes
	}
	return MaxSmallPartBytes
}

func mib(n uint64) string { return fmt.Sprintf("%d MiB", n>>20) }

// sheetParts finds the parts excelize reads as worksheets as it finds them, whatever
// they are called: the package's relationships (_rels/.rels) name the workbook, the
// workbook's <sheet> elements name relationships of its own (its _rels part), and
// their targets are the sheets. Where excelize takes one candidate (the first
// workbook named; the sheet whose name matches in any case), every candidate is
// kept, so the sheet it reads is among them however the file is arranged. Each part
// read here is walked as any other, with the same refusals.
func sheetParts(parts map[string][]*zip.File) (map[string]bool, error) {
	var books []string
	err := walkAll(parts, "_rels/.rels", func(el xml.StartElement) error {
		// excelize rewrites Strict OOXML's namespaces to the transitional ones first.
		if el.Name.Local != "Relationship" || !slices.ContainsFunc(values(el, "Type"), func(t string) bool {
			return t == excelize.SourceRelationshipOfficeDocument || t == excelize.StrictSourceRelationshipOfficeDocument
		}) {
			return nil
		}
		for _, target := range values(el, "Target") {
			if book := partName(strings.TrimPrefix(target, "/")); parts[book] != nil && !slices.Contains(books, book) {
				books = append(books, book)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sheets := map[string]bool{}
	for _, book := range books {
		ids := map[string]bool{}
		err := walkAll(parts, book, func(el xml.StartElement) error {
			if el.Name.Local != "sheet" {
				return nil
			}
			for _, id := range values(el, "id") {
				ids[id] = true
			}
			if len(ids) > MaxParts {
				return partError(book, fmt.Sprintf("的工作表超过 %d 个", MaxParts), fmt.Sprintf("names more than %d sheets, more parts than a file may have.", MaxParts))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		dir, rels := path.Dir(book), "_rels/"+path.Base(book)+".rels"
		if dir != "." {
			rels = strings.TrimPrefix(dir+"/"+rels, "/")
		}
		err = walkAll(parts, rels, func(el xml.StartElement) error {
			if el.Name.Local != "Relationship" || !slices.ContainsFunc(values(el, "Id"), func(id string) bool { return ids[id] }) {
				return nil
			}
			for _, target := range values(el, "Target") {
				if !strings.HasPrefix(target, "/") {
					target = dir + "/" + target
				}
				if sheet := strings.TrimPrefix(partName(path.Clean(target)), "/"); parts[sheet] != nil {
					sheets[sheet] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return sheets, nil
}

// walkAll walks every part called name (a zip may hold two) with visit.
func walkAll(parts map[string][]*zip.File, name string, visit func(xml.StartElement) error) error {
	for _, zf := range parts[name] {
		if err := walk(zf, kindOf(name, nil), visit); err != nil {
			return err
		}
	}
	return nil
}

// values are the element's attributes of that local name, in any namespace: every
// one, as the XML may repeat an attribute, and excelize's decoder keeps the last.
func values(el xml.StartElement, local string) []string {
	var out []string
	for _, a := range el.Attr {
		if a.Name.Local == local {
			out = append(out, a.Value)
		}
	}
	return out
}

// partKind is which of the limits on what a part holds apply to it.
type partKind struct{ sheet, texts, styles bool }

func kindOf(name string, sheets map[string]bool) partKind {
	return partKind{sheet: isSheet(name) || sheets[name], texts: name == sharedStrings, styles: name == styles}
}

func partError(part, zh, en string) error {
	return &Error{Message: fmt.Sprintf("XLSX 文件的部件 %s %s The XLSX part %s %s", part, zh, part, en)}
}

// otherEncoding is a part's declaration of an encoding other than UTF-8. Excel and
// WPS write every part in UTF-8; the packaging standard allows UTF-16 too
// (ECMA-376 part 2, M1.17), but none of them writes it.
type otherEncoding struct{ label string }

func (e *otherEncoding) Error() string { return "encoding " + e.label }

// walk reads one part's XML as it inflates, for its nesting and, by its kind, its
// rows, cells and texts, and calls visit (when not nil) with each element.
func walk(zf *zip.File, kind partKind, visit func(xml.StartElement) error) error {
	rc, err := zf.Open()
	if err != nil {
		return partError(zf.Name, "无法读取", fmt.Sprintf("cannot be read: %v", err))
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	d.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) { return nil, &otherEncoding{label} }
	refuse := func(zh, en string, args ...any) error { return partError(zf.Name, zh, fmt.Sprintf(en, args...)) }
	depth, rows, row, strs, valued := 0, 0, 0, 0, 0
	text := -1 // bytes of the cell or shared string being read; -1 outside one
	for {
		tok, err := d.RawToken()
		var enc *otherEncoding
		switch {
		case err == io.EOF && depth > 0:
			return refuse("的 XML 不完整", "ends with %d XML elements left open.", depth)
		case err == io.EOF:
			return nil
		case errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF):
			return refuse("已损坏", "is damaged: %v", err)
		case errors.As(err, &enc):
			return refuse(fmt.Sprintf("声明的编码是 %q，只能读取 UTF-8，请用 Excel 或 WPS 重新保存", enc.label),
				"declares the encoding %q; only UTF-8 is read, as Excel and WPS write it: save the file again from either.", enc.label)
		case err != nil:
			return refuse("的 XML 格式错误", "is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth++; depth > MaxXMLDepth {
				return refuse(fmt.Sprintf("嵌套超过 %d 层", MaxXMLDepth), "nests its XML more than %d levels deep, the limit.", MaxXMLDepth)
			}
			switch local := el.Name.Local; {
			case kind.sheet && local == "row":
				if rows++; rows > MaxRows {
					return refuse(fmt.Sprintf("超过 %d 行，请分成几个文件", MaxRows), "has more than %d rows, the limit; split it into several files.", MaxRows)
				}
				valued, row = 0, rows
				for _, r := range values(el, "r") {
					if n, err := strconv.Atoi(r); err == nil {
						row = n
					}
				}
			case kind.sheet && local == "c":
				text = 0
			case kind.sheet && (local == "v" || local == "is"):
				if valued++; valued > MaxColumns {
					return refuse(fmt.Sprintf("第 %d 行超过 %d 列", row, MaxColumns), "fills more than %d columns of row %d, the limit.", MaxColumns, row)
				}
			case kind.texts && local == "si":
				if strs++; strs > MaxSharedStrings {
					return refuse(fmt.Sprintf("的不同文字超过 %d 条", MaxSharedStrings), "holds more than %d distinct texts, the limit.", MaxSharedStrings)
				}
				text = 0
			case kind.styles && local == "numFmt":
				for _, code := range values(el, "formatCode") {
					if utf8.RuneCountInString(code) > MaxFormatCode {
						return refuse(fmt.Sprintf("的数字格式超过 %d 个字符", MaxFormatCode), "has a number format longer than %d characters, the limit.", MaxFormatCode)
					}
				}
			}
			if visit != nil {
				if err := visit(el); err != nil {
					return err
				}
			}
		case xml.EndElement:
			depth--
			if (kind.sheet && el.Name.Local == "c") || (kind.texts && el.Name.Local == "si") {
				text = -1
			}
		case xml.CharData:
			if text >= 0 {
				if text += len(el); text > MaxCellBytes {
					return refuse(fmt.Sprintf("有文字超过 %d KiB", MaxCellBytes>>10), "holds a text over %d KiB, the limit a cell.", MaxCellBytes>>10)
				}
			}
		}
	}
}
