package apiclient

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/url"

	"baocun"
)

// UploadFile sends content as an evidence file of the pairing, named name, and
// returns its record: its id goes in a step's or a record's "files".
func (c *Client) UploadFile(ctx context.Context, pairing int64, name string, content []byte) (baocun.File, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("file", name)
	if err != nil {
		return baocun.File{}, err
	}
	if _, err := w.Write(content); err != nil {
		return baocun.File{}, err
	}
	if err := mw.Close(); err != nil {
		return baocun.File{}, err
	}
	var out baocun.File
	err = c.do(ctx, "POST", fmt.Sprintf("api/v1/files?pairing=%d", pairing), file{data: body.Bytes(), contentType: mw.FormDataContentType()}, &out)
	return out, err
}

// File reads an evidence file's content (thumb: an image's thumbnail).
func (c *Client) File(ctx context.Context, id string, thumb bool) ([]byte, error) {
	path := "api/v1/files/" + url.PathEscape(id)
	if thumb {
		path += "?thumb=1"
	}
	return c.send(ctx, "GET", path, nil)
}

// Files lists the pairing's evidence files, newest first.
func (c *Client) Files(ctx context.Context, pairing int64) ([]baocun.File, error) {
	var out struct {
		Items []baocun.File `json:"items"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("api/v1/pairings/%d/files", pairing), nil, &out)
	return out.Items, err
}
