package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // thumbnails of each image type taken
	"image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/gin-gonic/gin"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"baocun"
	"baocun/blob"
)

// Evidence files (issue 17): uploaded to a pairing, kept by SHA-256 in the blob
// store, read as their pairing is read.

// thumbSide is the longest side of a thumbnail. Decoding costs memory by pixels, not
// by bytes — a 200-byte progressive JPEG can claim 40 MP and cost 570 MB to decode —
// so a thumbnail is made only of an image that claims at most thumbPixels (fewer for
// the costly kinds: a progressive JPEG, 16-bit or CMYK colour), at least one byte of
// file for every thumbPixelsPerByte pixels (what real photographs have, and bombs do
// not), one at a time (thumbnailing).
const (
	thumbSide          = 320
	thumbPixels        = 16_000_000
	thumbPixelsCostly  = 4_000_000
	thumbPixelsPerByte = 1000
)

// thumbnailing admits one decode at a time: a burst of uploads queues here rather
// than multiplying the memory one decode takes.
var thumbnailing = make(chan struct{}, 1)

// minUploadRate is the slowest upload taken: a village's mobile uplink. The read
// deadline of an upload is its limit at this rate (the server's own 30 s is for
// JSON bodies).
const minUploadRate = 32 << 10 // bytes a second

// fileUploadResource is the pairing a file is uploaded to, named by ?pairing=: the
// gate decides on it before a byte of the body is read.
func fileUploadResource(store Store) loader {
	load := pairingResource(store)
	return func(c *gin.Context) (Resource, error) {
		id := c.Query("pairing")
		if id == "" {
			return Resource{}, &baocun.Error{Code: baocun.EINVALID, Message: "pairing: 须指明结对 ?pairing= names the pairing the file is evidence for",
				Fields: map[string]string{"pairing": "required"}}
		}
		c.Params = append(c.Params, gin.Param{Key: "id", Value: id})
		return load(c)
	}
}

// fileResource is a file's pairing, for reading it.
func fileResource(store Store) loader {
	load := pairingResource(store)
	return func(c *gin.Context) (Resource, error) {
		f, err := store.File(c.Request.Context(), c.Param("file"))
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxFile, f)
		c.Params = append(c.Params, gin.Param{Key: "id", Value: strconv.FormatInt(f.PairingID, 10)})
		r, err := load(c)
		r.Name = "files/" + f.ID
		return r, err
	}
}

const ctxFile = "baocun.file"

// noFileStore answers file routes on a server given no store for their contents.
var noFileStore = baocun.Errorf(baocun.EUNAVAILABLE, "此服务未配置文件存储 This service keeps no files.")

// handleUpload takes one file (multipart field "file") as evidence for a pairing:
// streamed to a temporary file under the size limit (413 past it), its type sniffed
// from its content (415 unless evidence takes it), its SHA-256 computed, then kept
// in the blob store with a thumbnail of an image, and recorded with an audit entry
// that names its hash. A refused file leaves nothing behind.
func handleUpload(d Deps) gin.HandlerFunc {
	limit, quota := d.maxFileSize(), d.filesQuota()
	return func(c *gin.Context) {
		if d.Files == nil {
			Error(c, noFileStore)
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if c.Request.ContentLength > bodyLimitOf(c) {
			Error(c, tooLarge(bodyLimitOf(c))) // before a byte is read
			return
		}
		if p.Stage == baocun.StageCancelled || p.Stage == baocun.StageClosed {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对已%s The pairing is %s.", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		used, err := d.Store.FilesSize(ctx, p.ID, u.Username)
		if err != nil {
			Error(c, err)
			return
		}
		if used >= quota {
			Error(c, baocun.QuotaReached(quota))
			return
		}
		rc := http.NewResponseController(c.Writer)
		if err := rc.SetReadDeadline(time.Now().Add(30*time.Second + time.Duration(limit/minUploadRate)*time.Second)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			c.Error(err)
		}
		mr, err := c.Request.MultipartReader()
		if err != nil {
			Error(c, &baocun.Error{Code: baocun.EUNSUPPORTED, Fields: map[string]string{"file": "multipart/form-data"},
				Message: "须以 multipart/form-data 上传，字段 file Send the file as multipart/form-data, field \"file\"."})
			return
		}
		var part interface {
			io.Reader
			FileName() string
			FormName() string
		}
		for {
			pt, err := mr.NextPart()
			if err != nil {
				if isTooLarge(err) {
					Error(c, fileTooLarge(limit))
					return
				}
				Error(c, fieldError("file", "file: 缺少文件 no part named \"file\""))
				return
			}
			if pt.FormName() == "file" {
				part = pt
				break
			}
		}
		tmp, err := os.CreateTemp("", "baocun-upload-*")
		if err != nil {
			Error(c, err)
			return
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(part, limit+1))
		switch {
		case isTooLarge(err) || n > limit:
			Error(c, fileTooLarge(limit))
			return
		case err != nil:
			Error(c, fieldError("file", "file: 读取失败 the upload broke off: "+err.Error()))
			return
		case n == 0:
			Error(c, fieldError("file", "file: 文件为空 the file is empty"))
			return
		}
		f := baocun.File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, PairingID: p.ID, Name: fileName(part.FileName()),
			UploadedBy: u.Username, UploadedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			Error(c, err)
			return
		}
		m, err := mimetype.DetectReader(tmp)
		if err != nil {
			Error(c, err)
			return
		}
		f.ContentType, _, _ = mime.ParseMediaType(m.String())
		f.Name = withExtension(f.Name, m.Extension())
		if !baocun.EvidenceTypes[f.ContentType] {
			Error(c, &baocun.Error{Code: baocun.EUNSUPPORTED, Fields: map[string]string{"file": f.ContentType},
				Message: fmt.Sprintf("不接受 %s 类型的文件：限图片、PDF、Office 文档和文本 A %s file is not taken: images, PDF, Office documents and text only.", f.ContentType, f.ContentType)})
			return
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			Error(c, err)
			return
		}
		// Kept, and recorded, even if the caller goes now: a content in the store is
		// one the database and the trail know of.
		// Within a bound all the same: a store that stops answering fails the upload
		// (503) rather than holding its handler and its temporary file.
		kept := context.WithoutCancel(ctx)
		ctx, cancel := context.WithTimeout(kept, time.Minute+time.Duration(n/minUploadRate)*time.Second)
		defer cancel()
		if err := d.Files.Put(ctx, f.SHA256, tmp, n); err != nil {
			Error(c, &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "文件暂不能保存 The file cannot be stored now.", Err: err})
			return
		}
		if strings.HasPrefix(f.ContentType, "image/") {
			if _, err := tmp.Seek(0, io.SeekStart); err == nil {
				f.ThumbSHA256 = thumbnail(ctx, d.Files, tmp, n)
				f.Thumbnail = f.ThumbSHA256 != ""
			}
		}
		id := make([]byte, 16)
		rand.Read(id)
		f.ID = hex.EncodeToString(id)
		e := auditEntry(c, http.StatusCreated, nil)
		e.Resource = "files/" + f.ID
		e.Summary = summary(map[string]any{"sha256": f.SHA256, "size": f.Size, "content_type": f.ContentType, "name": f.Name})
		rctx, cancelRecord := context.WithTimeout(kept, 30*time.Second) // its own time: the store may have used all of ctx's
		defer cancelRecord()
		if err := d.Store.AddFile(rctx, f, quota, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, f)
	}
}

// thumbnail keeps a JPEG of the image at most thumbSide on its longest side and
// returns its SHA-256, or "" when the image cannot be read or would cost too much to
// decode (see thumbPixels).
func thumbnail(ctx context.Context, store blob.Store, r io.ReadSeeker, size int64) string {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return ""
	}
	progressive := false
	if format == "jpeg" {
		_, err := r.Seek(0, io.SeekStart)
		progressive = err != nil || progressiveJPEG(r)
	}
	if !thumbnailable(cfg, progressive, size) {
		return ""
	}
	select {
	case thumbnailing <- struct{}{}:
		defer func() { <-thumbnailing }()
	case <-time.After(30 * time.Second):
		return "" // the decodes ahead took too long: no thumbnail rather than a pile-up
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return ""
	}
	w, h := cfg.Width, cfg.Height
	if w > h {
		w, h = thumbSide, max(1, h*thumbSide/w)
	} else {
		w, h = max(1, w*thumbSide/h), thumbSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return ""
	}
	sum := sha256.Sum256(buf.Bytes())
	s := hex.EncodeToString(sum[:])
	if err := store.Put(ctx, s, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return ""
	}
	return s
}

// thumbnailable reports whether an image of cfg in a file of size bytes is cheap
// enough to decode for a thumbnail (see thumbPixels).
func thumbnailable(cfg image.Config, progressive bool, size int64) bool {
	pixels := int64(cfg.Width) * int64(cfg.Height)
	limit := int64(thumbPixels)
	switch cfg.ColorModel {
	case color.CMYKModel, color.RGBA64Model, color.NRGBA64Model, color.Gray16Model:
		limit = thumbPixelsCostly
	}
	if progressive {
		limit = thumbPixelsCostly
	}
	return pixels > 0 && pixels <= limit && pixels <= size*thumbPixelsPerByte
}

// progressiveJPEG reports whether the JPEG r holds is progressive (SOF2): walking its
// segments to the first frame header.
func progressiveJPEG(r io.Reader) bool {
	br := bufio.NewReader(io.LimitReader(r, 1<<20))
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return false
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		if b != 0xFF {
			continue
		}
		marker, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch {
		case marker == 0xFF || marker == 0x00 || (marker >= 0xD0 && marker <= 0xD9):
			continue // fill, stuffing, restart, SOI/EOI: no length
		case marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE:
			return true
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return false // another frame header: sequential
		case marker == 0xDA:
			return false
		}
		var n [2]byte
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return false
		}
		if _, err := br.Discard(int(n[0])<<8 | int(n[1]) - 2); err != nil {
			return false
		}
	}
}

// withExtension gives name the extension of the type sniffed (ext, with its dot):
// a file saved under the name the service gives it opens as what it is, never as a
// page or a program its sender named it.
func withExtension(name, ext string) string {
	if ext == "" {
		return name
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	if base == "" {
		base = "file"
	}
	return base + ext
}

// fileName keeps the base of an uploaded file's name, valid UTF-8, at most 200
// characters, without control characters.
func fileName(s string) string {
	s = strings.ToValidUTF8(filepath.Base(strings.ReplaceAll(s, `\`, "/")), "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f, // C0, DEL, C1
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f: // bidi controls
			return -1
		}
		return r
	}, s)
	if s == "." || s == "/" {
		return ""
	}
	for utf8.RuneCountInString(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

func fileTooLarge(limit int64) error {
	return &baocun.Error{Code: baocun.ETOOLARGE, Fields: map[string]string{"file": "too large"},
		Message: fmt.Sprintf("文件超过 %d MB 的上限 The file is over the limit of %d MB.", limit>>20, limit>>20)}
}

// recordReads are the permissions a file's reader needs beside the pairing's, by the
// kind of record that names it as evidence: a spot check's photograph is read as the
// spot check is (never by the team it checked), a doctor's note as the leave.
var recordReads = map[string]string{"spot_check": "spot_check", "work_log": "work_log", "leave": "leave"}

// mayReadFile reports whether the caller may read f as every record naming it is
// read, and names the rule that refuses otherwise.
func mayReadFile(c *gin.Context, d Deps, f baocun.File) (bool, string, error) {
	kinds, err := d.Store.FileKinds(c.Request.Context(), f.ID)
	if err != nil {
		return false, "", err
	}
	for _, k := range kinds {
		obj, ok := recordReads[k]
		if !ok {
			continue
		}
		allowed, err := mayAlso(c, d, obj, "read")
		if err != nil || !allowed {
			return false, "evidence of a " + k + ": read as it is (" + obj + ".read)", err
		}
	}
	return true, "", nil
}

// handleFile serves a file's content (?thumb=1: its thumbnail), never to be run by
// the browser as a page of ours.
func handleFile(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		if d.Files == nil {
			Error(c, noFileStore)
			return
		}
		f := c.MustGet(ctxFile).(baocun.File)
		if ok, rule, err := mayReadFile(c, d, f); err != nil {
			Error(c, err)
			return
		} else if !ok {
			forbid(c, d, "file.read", rule)
			return
		}
		sum, ctype := f.SHA256, f.ContentType
		if c.Query("thumb") != "" {
			if f.ThumbSHA256 == "" {
				Error(c, baocun.Errorf(baocun.ENOTFOUND, "此文件没有缩略图 This file has no thumbnail."))
				return
			}
			sum, ctype = f.ThumbSHA256, "image/jpeg"
		}
		if match := c.GetHeader("If-None-Match"); match == `"`+sum+`"` {
			c.Status(http.StatusNotModified)
			return
		}
		streaming(c)
		// Sent with its length, so a download the store breaks off is an error to the
		// browser, never a whole answer it keeps.
		rc, size, err := d.Files.Open(c.Request.Context(), sum)
		if err == nil && sum == f.SHA256 && size != f.Size {
			rc.Close()
			err = fmt.Errorf("the store holds %d bytes under %s, the record %d", size, sum, f.Size)
		}
		if err != nil {
			Error(c, &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "文件内容暂不能读取 The file's content cannot be read now.", Err: err})
			return
		}
		defer rc.Close()
		disposition := "attachment"
		if strings.HasPrefix(ctype, "image/") || ctype == "application/pdf" {
			disposition = "inline"
		}
		name := f.Name
		if name == "" {
			name = f.ID
		}
		c.DataFromReader(http.StatusOK, size, ctype, rc, map[string]string{
			"Content-Disposition":    disposition + "; filename*=UTF-8''" + url.PathEscape(name),
			"X-Content-Type-Options": "nosniff", // the API's own headers forbid scripts too (default-src 'none')
			"Cache-Control":          "private, max-age=86400, immutable",
			"ETag":                   `"` + sum + `"`,
		})
	}
}

// handlePairingFiles lists a pairing's files, newest first, that the caller may read:
// its gallery.
func handlePairingFiles(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		fs, err := d.Store.Files(c.Request.Context(), loadedPairing(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		shown := fs[:0]
		for _, f := range fs { // each as the records naming it are read
			ok, _, err := mayReadFile(c, d, f)
			if err != nil {
				Error(c, err)
				return
			}
			if ok {
				shown = append(shown, f)
			}
		}
		c.JSON(http.StatusOK, page[baocun.File]{Items: shown})
	}
}
