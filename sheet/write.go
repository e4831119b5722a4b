package sheet

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Sheet is one named table to write.
type Sheet struct {
	Name   string // at most 31 characters: Excel's limit
	Header []string
	Rows   [][]string
}

// CSV writes the service's CSV exports, every one of them: UTF-8 with a byte-order
// mark (how Excel and WPS know to open Chinese text as UTF-8), CRLF line ends (what
// Excel writes and expects), and no cell that a spreadsheet would run as a formula.
type CSV struct {
	w   *csv.Writer
	row []string
}

// NewCSV starts an export on w with its header row.
func NewCSV(w io.Writer, header []string) (*CSV, error) {
	if _, err := w.Write(utf8BOM); err != nil {
		return nil, err
	}
	c := &CSV{w: csv.NewWriter(w)}
	c.w.UseCRLF = true
	return c, c.Write(header)
}

// Write writes one row, each cell made safe to open (Text).
func (c *CSV) Write(row []string) error {
	c.row = c.row[:0]
	for _, v := range row {
		c.row = append(c.row, Text(v))
	}
	return c.w.Write(c.row)
}

// Flush writes what is buffered and reports the first error of the export.
func (c *CSV) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// Text is v as a cell that Excel, WPS and LibreOffice show as text, never run: a
// cell starting with = + - @ (or their full-width forms, which a Chinese input
// method types and WPS reads as the same), a tab, a line end, or any of these after
// leading blanks, is a formula to one of them (OWASP "CSV injection"), and the
// names, user agents and reasons the exports carry come from outside —
// "=HYPERLINK(…)" in an official's spreadsheet is an attack. The leading
// apostrophe is Excel's own mark of text.
func Text(v string) string {
	first, _ := utf8.DecodeRuneInString(v)
	lead, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(v, unicode.IsSpace))
	if strings.ContainsRune("\t\r\n", first) || strings.ContainsRune("=+-@＝＋－＠", lead) {
		return "'" + v
	}
	return v
}

// WriteCSV writes one table as a CSV export.
func WriteCSV(w io.Writer, s Sheet) error {
	c, err := NewCSV(w, s.Header)
	if err != nil {
		return err
	}
	for _, row := range s.Rows {
		if err := c.Write(row); err != nil {
			return err
		}
	}
	return c.Flush()
}

// WriteXLSX writes each table on a worksheet of its own, in order. Every cell is
// written as a string, which Excel shows as text and never evaluates, whatever it
// starts with, so an XLSX export needs no marking.
func WriteXLSX(w io.Writer, sheets ...Sheet) error {
	f := excelize.NewFile()
	defer f.Close()
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.Name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(s.Name); err != nil {
			return err
		}
		sw, err := f.NewStreamWriter(s.Name)
		if err != nil {
			return err
		}
		for r, row := range append([][]string{s.Header}, s.Rows...) {
			cells := make([]any, len(row))
			for j, v := range row {
				cells[j] = v
			}
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := sw.SetRow(cell, cells); err != nil {
				return fmt.Errorf("sheet %s row %d: %w", s.Name, r+1, err)
			}
		}
		if err := sw.Flush(); err != nil {
			return err
		}
	}
	return f.Write(w)
}
