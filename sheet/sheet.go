// Package sheet reads the tables officials keep in spreadsheets: CSV as Excel and WPS
// write it (UTF-8 with or without a byte-order mark, or GB18030 on Chinese Windows)
// and XLSX (github.com/xuri/excelize). It returns rows with the line numbers a person
// sees in the file, so an error can say "line 7, column 村名".
package sheet

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"baocun"
)

// XLSXType is the media type of an XLSX workbook.
const XLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	t := &Table{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{Line: pe.Line, Column: runeColumn(data, pe.Line, pe.Column),
				Message: "CSV 格式错误 Malformed CSV: " + pe.Err.Error()}
		}
		if err != nil {
			return nil, &Error{Message: err.Error()}
		}
		line, _ := r.FieldPos(0)
		add(t, line, rec)
	}
	return done(t)
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
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{Message: "无法读取 XLSX 文件 Cannot read the XLSX file: " + err.Error()}
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, &Error{Message: "XLSX 文件没有工作表 The workbook has no sheet."}
	}
	rows, err := f.GetRows(sheets[0])
	if err != nil {
		return nil, &Error{Message: "无法读取工作表 Cannot read the first sheet: " + err.Error()}
	}
	t := &Table{}
	for i, rec := range rows {
		add(t, i+1, rec)
	}
	return done(t)
}

func add(t *Table, line int, rec []string) {
	blank := true
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
		if rec[i] != "" {
			blank = false
		}
	}
	if blank {
		return
	}
	if t.Header == nil {
		t.Header, t.HeaderLine = rec, line
		return
	}
	t.Rows = append(t.Rows, baocun.Row{Line: line, Cells: rec})
}

func done(t *Table) (*Table, error) {
	if t.Header == nil {
		return nil, &Error{Message: "文件为空 The file is empty: it needs a header row."}
	}
	return t, nil
}
