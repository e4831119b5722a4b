package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"baocun"
	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// uploadFile sends content as the multipart field "file" named name to POST /files.
func uploadFile(t *testing.T, srv *httptest.Server, token, query, name string, content []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", name)
	w.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/files"+query, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getFile(t *testing.T, srv *httptest.Server, token, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// photo is a PNG of w × h pixels.
func photo(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// Evidence files, on both databases: a photo uploaded to one's own pairing is kept
// by its SHA-256 (named in the audit entry), with a thumbnail, and read back by
// those who read the pairing, never run as a page; a file over the limit is 413 and
// one of another type 415, and neither leaves anything behind; an upload to another
// team's pairing is 403 and audited.
func TestEvidenceFiles(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		ctx := context.Background()
		pic := photo(640, 480)
		status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "村道.png", pic)
		var file baocun.File
		json.Unmarshal([]byte(body), &file)
		sum := sha256.Sum256(pic)
		if status != 201 || file.SHA256 != hex.EncodeToString(sum[:]) || file.Size != int64(len(pic)) || file.ContentType != "image/png" ||
			!file.Thumbnail || file.Name != "村道.png" || len(file.ID) != 32 {
			t.Fatalf("uploading a photo: %d %s", status, body)
		}
		entries, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "file.upload", Limit: 10})
		if err != nil || len(entries) != 1 || !strings.Contains(entries[0].Summary, file.SHA256) || entries[0].PairingID != "1" {
			t.Errorf("the upload's audit entry: %+v, %v; want one naming the hash", entries, err)
		}
		resp, got := getFile(t, f.srv, tok["lead"], "/api/v1/files/"+file.ID)
		if resp.StatusCode != 200 || !bytes.Equal(got, pic) || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("the lead reading it: %d, %d bytes, headers %v", resp.StatusCode, len(got), resp.Header)
		}
		resp, got = getFile(t, f.srv, tok["lead"], "/api/v1/files/"+file.ID+"?thumb=1")
		thumb, err := jpeg.Decode(bytes.NewReader(got))
		if resp.StatusCode != 200 || err != nil || thumb.Bounds().Dx() != 320 || thumb.Bounds().Dy() != 240 {
			t.Errorf("the thumbnail: %d, %v, %v", resp.StatusCode, err, thumb)
		}
		if resp, _ := getFile(t, f.srv, tok["member1"], "/api/v1/files/"+file.ID); resp.StatusCode != 200 {
			t.Errorf("the team's leader reading it: %d", resp.StatusCode)
		}
		f.user("v2", "", "V2", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "*"})
		if resp, _ := getFile(t, f.srv, f.login(f.srv, "v2"), "/api/v1/files/"+file.ID); resp.StatusCode != 403 {
			t.Errorf("another village reading it: %d, want 403", resp.StatusCode)
		}
		if resp, body := getFile(t, f.srv, tok["lead"], "/api/v1/pairings/1/files"); resp.StatusCode != 200 || !strings.Contains(string(body), file.ID) {
			t.Errorf("the pairing's gallery: %d %s", resp.StatusCode, body)
		}

		blobs := func() int {
			n := 0
			filepath.WalkDir(string(f.files), func(_ string, d os.DirEntry, _ error) error {
				if d != nil && !d.IsDir() {
					n++
				}
				return nil
			})
			return n
		}
		rows := func() int {
			var n int
			f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM files").Scan(&n)
			return n
		}
		before, beforeRows := blobs(), rows()
		if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "page.html", []byte("<html><script>alert(1)</script></html>")); status != 415 {
			t.Errorf("an HTML page: %d %s, want 415", status, body)
		}
		if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "big.png", append(pic, make([]byte, 20<<20)...)); status != 413 || !strings.Contains(body, "20 MB") {
			t.Errorf("a file over 20 MB: %d %s, want 413 naming the limit", status, body)
		}
		if status, _ := uploadFile(t, f.srv, tok["member4"], "?pairing=2", "x.png", pic); status != 403 {
			t.Errorf("an upload to another team's pairing: %d, want 403", status)
		}
		if status, _ := uploadFile(t, f.srv, tok["member4"], "", "x.png", pic); status != 400 {
			t.Errorf("an upload naming no pairing: %d, want 400", status)
		}
		if blobs() != before || rows() != beforeRows {
			t.Errorf("refused uploads left %d contents and %d rows behind", blobs()-before, rows()-beforeRows)
		}
		entries, _, _ = f.audit.Query(ctx, baocun.AuditFilter{Decision: baocun.DecisionDeny, Actor: "member4", Limit: 10})
		if len(entries) != 1 || entries[0].Action != "file.upload" {
			t.Errorf("the refused upload's audit: %+v", entries)
		}
		// A bomb: 200 bytes that claim a 6,000 × 6,000 progressive JPEG are taken
		// as a file, but not decoded for a thumbnail.
		bomb := []byte{0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x17, 0x70, 0x17, 0x70, 0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01}
		bomb = append(bomb, make([]byte, 180)...)
		status, body = uploadFile(t, f.srv, tok["member4"], "?pairing=1", "bomb.jpg", bomb)
		if file = (baocun.File{}); json.Unmarshal([]byte(body), &file) != nil || status != 201 || file.Thumbnail || file.ContentType != "image/jpeg" {
			t.Errorf("a tiny file claiming a vast image: %d %s, want taken without a thumbnail", status, body)
		}
		// Text named as a page is kept as text, under a name that opens as text.
		status, body = uploadFile(t, f.srv, tok["member4"], "?pairing=1", "证明.html", []byte("Evidence\n<script>alert(document.domain)</script>\n"))
		if file = (baocun.File{}); json.Unmarshal([]byte(body), &file) != nil || status != 201 || file.ContentType != "text/plain" || file.Name != "证明.txt" {
			t.Errorf("text named .html: %d %s, want text/plain named 证明.txt", status, body)
		}
		resp, _ = getFile(t, f.srv, tok["lead"], "/api/v1/files/"+file.ID)
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, ".txt") {
			t.Errorf("its download: Content-Disposition %q, want an attachment named .txt", cd)
		}
		if entries, _, _ := f.audit.Query(ctx, baocun.AuditFilter{Action: "file.read", Actor: "lead", Limit: 10}); len(entries) == 0 {
			t.Error("reading a file is not in the trail")
		}
		// The same photo again: a second file, one content.
		before = blobs()
		if status, _ := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "again.png", pic); status != 201 || blobs() != before {
			t.Errorf("the same content again: %d, %d contents (was %d)", status, blobs(), before)
		}
	})
}

// A thumbnail is made only of an image cheap to decode: its pixels bounded (fewer for
// progressive JPEG and 16-bit or CMYK colour), and not vastly more than its bytes —
// a 200-byte file that claims 36 MP is a bomb, not a photograph.
func TestThumbnailGuards(t *testing.T) {
	rgb := func(w, h int) image.Config { return image.Config{ColorModel: color.YCbCrModel, Width: w, Height: h} }
	for _, c := range []struct {
		name        string
		cfg         image.Config
		progressive bool
		size        int64
		want        bool
	}{
		{"a 12 MP phone photo", rgb(4000, 3000), false, 3 << 20, true},
		{"a 36 MP claim in 200 bytes", rgb(6000, 6000), true, 200, false},
		{"a 36 MP baseline photo", rgb(6000, 6000), false, 12 << 20, false},
		{"a 12 MP progressive photo", rgb(4000, 3000), true, 3 << 20, false},
		{"a 3 MP progressive photo", rgb(2000, 1500), true, 1 << 20, true},
		{"a 5 MP CMYK scan", image.Config{ColorModel: color.CMYKModel, Width: 2500, Height: 2000}, false, 4 << 20, false},
		{"a 5 MP 16-bit PNG", image.Config{ColorModel: color.NRGBA64Model, Width: 2500, Height: 2000}, false, 8 << 20, false},
	} {
		if got := web.Thumbnailable(c.cfg, c.progressive, c.size); got != c.want {
			t.Errorf("%s: thumbnailable %v, want %v", c.name, got, c.want)
		}
	}
	var baseline bytes.Buffer
	jpeg.Encode(&baseline, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil)
	sof2 := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x17, 0x70, 0x17, 0x70, 0x03}
	if web.ProgressiveJPEG(bytes.NewReader(baseline.Bytes())) || !web.ProgressiveJPEG(bytes.NewReader(sof2)) {
		t.Error("progressiveJPEG: want false for Go's baseline JPEG, true for an SOF2 behind an APP0")
	}
}

// A file named by a record is read as that record is: the spot check's photograph
// is the inspectors' and the department lead's, not the checked team's (a 403, and
// left out of its gallery); a record naming a file of another pairing is refused,
// naming it, and nothing of it is kept.
func TestEvidenceReadAsItsRecord(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		f.user("rev2", "P2", "", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "*"})
		tok["rev2"] = f.login(f.srv, "rev2")
		var photoFile, other baocun.File
		_, body := uploadFile(t, f.srv, tok["rev2"], "?pairing=1", "暗访.png", photo(64, 48))
		json.Unmarshal([]byte(body), &photoFile)
		_, body = uploadFile(t, f.srv, tok["rev2"], "?pairing=2", "other.png", photo(32, 32))
		json.Unmarshal([]byte(body), &other)
		check := map[string]any{"date": "2027-01-10", "absent": []string{"P4"}, "note": "不在岗 away", "files": []string{other.ID}}
		if status, body := call(t, f.srv, tok["rev2"], "POST", "/api/v1/pairings/1/spot-checks", check); status != 400 || !strings.Contains(body, "files[0]") {
			t.Fatalf("naming another pairing's file: %d %s, want 400 naming files[0]", status, body)
		}
		var n int
		f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM spot_checks").Scan(&n)
		if n != 0 {
			t.Fatalf("the refused spot check was kept")
		}
		check["files"] = []string{photoFile.ID}
		if status, body := call(t, f.srv, tok["rev2"], "POST", "/api/v1/pairings/1/spot-checks", check); status != 201 || !strings.Contains(body, photoFile.ID) {
			t.Fatalf("the spot check with its photograph: %d %s", status, body)
		}
		if resp, _ := getFile(t, f.srv, tok["member4"], "/api/v1/files/"+photoFile.ID); resp.StatusCode != 403 {
			t.Errorf("the checked team reading the spot check's photograph: %d, want 403", resp.StatusCode)
		}
		if resp, body := getFile(t, f.srv, tok["member4"], "/api/v1/pairings/1/files"); resp.StatusCode != 200 || strings.Contains(string(body), photoFile.ID) {
			t.Errorf("the team's gallery shows the spot check's photograph: %s", body)
		}
		if resp, _ := getFile(t, f.srv, tok["lead"], "/api/v1/files/"+photoFile.ID); resp.StatusCode != 200 {
			t.Errorf("the department lead reading it: %d, want 200", resp.StatusCode)
		}
		// Nor can the team name it as its own evidence (and so show it as such).
		plan := map[string]any{"title": "规划", "summary": "修路", "goals": []string{"路"}, "files": []string{photoFile.ID}}
		if status, body := call(t, f.srv, tok["member4"], "POST", "/api/v1/pairings/1/plan", plan); status != 400 || !strings.Contains(body, `"files[0]"`) {
			t.Errorf("the team naming the spot check's photograph in its plan: %d %s, want 400 naming files[0]", status, body)
		}
	})
}

// Steps and visits name their evidence (issue 17 part 5), on both databases: a plan,
// or a self-assessment's evidence for an indicator, naming a file of another pairing
// is refused with 400 naming the field, before the engine is asked; one naming the
// pairing's own files reaches the workflow with them. A visit's files are linked to
// its event and come back on the timeline.
func TestStepsNameTheirEvidence(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		ctx := context.Background()
		var own, other baocun.File
		_, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "会议纪要.png", photo(64, 48))
		json.Unmarshal([]byte(body), &own)
		_, body = uploadFile(t, f.srv, tok["org"], "?pairing=2", "别村.png", photo(32, 32))
		json.Unmarshal([]byte(body), &other)
		if own.ID == "" || other.ID == "" {
			t.Fatalf("uploads: %+v %+v", own, other)
		}
		var took []baocun.Step
		f.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
			took = append(took, st)
			return baocun.StepResult{Stage: string(baocun.StagePlanning)}, nil
		}
		plan := map[string]any{"title": "发展规划", "summary": "修路、建设产业基地", "goals": []string{"修路 5 公里"}, "files": []string{own.ID, other.ID}}
		if status, body := call(t, f.srv, tok["member4"], "POST", "/api/v1/pairings/1/plan", plan); status != 400 || !strings.Contains(body, `"files[1]"`) || !strings.Contains(body, other.ID) {
			t.Errorf("a plan naming another pairing's file: %d %s, want 400 naming files[1]", status, body)
		}
		self := map[string]any{"summary": "三年工作总结", "evidence": map[string][]string{"g1.i1": {own.ID}, "g2.i1": {other.ID}}}
		if status, body := call(t, f.srv, tok["member4"], "POST", "/api/v1/pairings/1/acceptance/self-assessment", self); status != 400 || !strings.Contains(body, `"evidence.g2.i1[0]"`) {
			t.Errorf("a self-assessment's evidence naming another pairing's file: %d %s, want 400 naming evidence.g2.i1[0]", status, body)
		}
		self["evidence"] = map[string][]string{"g1.i1": {own.ID, own.ID}}
		if status, body := call(t, f.srv, tok["member4"], "POST", "/api/v1/pairings/1/acceptance/self-assessment", self); status != 400 || !strings.Contains(body, `"evidence.g1.i1[1]"`) {
			t.Errorf("a file named twice for one indicator: %d %s, want 400 naming evidence.g1.i1[1]", status, body)
		}
		if len(took) != 0 {
			t.Fatalf("refused steps reached the engine: %+v", took)
		}
		plan["files"] = []string{own.ID}
		if status, body := call(t, f.srv, tok["member4"], "POST", "/api/v1/pairings/1/plan", plan); status != 200 {
			t.Fatalf("a plan with its own evidence: %d %s", status, body)
		}
		if len(took) != 1 || took[0].Plan == nil || !slices.Equal(took[0].Plan.Files, []string{own.ID}) {
			t.Errorf("the engine took %+v, want the plan with its file", took)
		}

		visit := map[string]any{"date": "2027-01-05", "visitor": "王书记", "purpose": "调研产业基地", "files": []string{other.ID}}
		if status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/1/visits", visit); status != 400 || !strings.Contains(body, `"files[0]"`) {
			t.Errorf("a visit naming another pairing's file: %d %s, want 400", status, body)
		}
		visit["files"] = []string{own.ID}
		if status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/1/visits", visit); status != 201 {
			t.Fatalf("a visit with its photograph: %d %s", status, body)
		}
		events, err := f.db.Events(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var visits []baocun.Event
		for _, e := range events {
			if e.Kind == "visit.recorded" {
				visits = append(visits, e)
			}
		}
		if len(visits) != 1 || !slices.Equal(visits[0].Files, []string{own.ID}) {
			t.Errorf("the visits on the timeline: %+v, want one naming the photograph", visits)
		}
		if kinds, err := f.db.FileKinds(ctx, own.ID); err != nil || !slices.Contains(kinds, "visit.recorded") {
			t.Errorf("the photograph's links: %v, %v; want the visit", kinds, err)
		}
	})
}

// What one person uploads to one pairing stays under the quota, each content counted
// once: an upload that would pass it is refused with 413 naming it and recorded
// nowhere; the same content again costs nothing; another uploader's room, and
// another pairing's, are their own.
func TestFilesQuota(t *testing.T) {
	f, tok := fieldFixture(t, sqldbtest.SQLiteDSN(t))
	f.quota = 100 << 10
	f.srv = httptest.NewServer(f.handler())
	t.Cleanup(f.srv.Close)
	big := []byte(strings.Repeat("台账记录 a ledger's line\n", 2400)) // 60 KB of text
	if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "台账.txt", big); status != 201 {
		t.Fatalf("the first 60 KB: %d %s", status, body)
	}
	var before int
	f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM files").Scan(&before)
	big[13] = 'Z' // another content
	if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "台账2.txt", big); status != 413 || !strings.Contains(body, "quota of 100 KB") {
		t.Errorf("60 KB more, past the 100 KB quota: %d %s, want 413 naming the quota", status, body)
	}
	big[13] = 'a' // the first content again
	if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=1", "台账副本.txt", big); status != 201 {
		t.Errorf("the same 60 KB again: %d %s, want taken (a content counts once)", status, body)
	}
	before++
	big[13] = 'Z'
	var after int
	f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM files").Scan(&after)
	if after != before {
		t.Errorf("the refused upload was recorded: %d files, was %d", after, before)
	}
	if status, body := uploadFile(t, f.srv, tok["org"], "?pairing=1", "暗访.txt", big); status != 201 {
		t.Errorf("an organiser's 60 KB to the same pairing: %d %s (the team's uploads are not the organiser's)", status, body)
	}
	if status, body := uploadFile(t, f.srv, tok["member4"], "?pairing=2", "台账.txt", big); status != 403 {
		t.Errorf("member4 to another team's pairing: %d %s, want 403 (not the quota)", status, body)
	}
}
