package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/post"
)

// Client talks to a node's API.
type Client struct {
	// Base is the node's API root, e.g. "http://127.0.0.1:7070".
	Base string
	// HTTP defaults to a client with no overall timeout (imports are long);
	// every call takes a context.
	HTTP *http.Client
	// Token, if set, is sent as 'Authorization: Bearer Token': the node's
	// API token, which changes from other machines need.
	Token string
}

// Local reports whether Base names a node on this machine (localhost or a
// loopback address), which takes requests without the token.
func (c *Client) Local() bool {
	u, err := url.Parse(c.Base)
	if err != nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// NewClient returns a client of the node at addr, given as HOST:PORT or URL.
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{Base: strings.TrimRight(addr, "/"), HTTP: &http.Client{}}
}

// Error is a non-2xx answer from the node.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("node answered %d: %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is a node running there? start one with 'murmur node')", method, c.Base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Post publishes a post through the node, which signs it.
func (c *Client) Post(ctx context.Context, r PostRequest) (*post.Post, error) {
	body, _ := json.Marshal(r)
	var p post.Post
	if err := c.do(ctx, http.MethodPost, "/api/v1/posts", bytes.NewReader(body), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get fetches a post by ID.
func (c *Client) Get(ctx context.Context, id string) (*post.Post, error) {
	var p post.Post
	if err := c.do(ctx, http.MethodGet, "/api/v1/posts/"+url.PathEscape(id), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Delete deletes one of the node's own posts.
func (c *Client) Delete(ctx context.Context, id string) (*post.Tombstone, error) {
	var t post.Tombstone
	if err := c.do(ctx, http.MethodDelete, "/api/v1/posts/"+url.PathEscape(id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Search runs a search with the given parameters (q, sort, limit, cursor, ...).
func (c *Client) Search(ctx context.Context, params url.Values) (*SearchResponse, error) {
	var r SearchResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/search?"+params.Encode(), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Status fetches the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Import sends one JSON Lines body and returns the node's counts.
func (c *Client) Import(ctx context.Context, body io.Reader) (ImportResult, error) {
	return c.importBody(ctx, body, ImportOptions{})
}

func (c *Client) importBody(ctx context.Context, body io.Reader, opts ImportOptions) (ImportResult, error) {
	path := "/api/v1/import"
	if !opts.UndatedTime.IsZero() {
		path += "?" + url.Values{"undated_time": {opts.UndatedTime.UTC().Format(time.RFC3339Nano)}}.Encode()
	}
	var r ImportResult
	err := c.do(ctx, http.MethodPost, path, body, &r)
	return r, err
}

// ImportProgress is what ImportChunked reports after each chunk.
type ImportProgress struct {
	ImportResult
	BytesRead int64 // of the input
	Elapsed   time.Duration
}

// ImportChunked sends r in chunks of at most chunkLines lines (and 8 MiB), so
// that each chunk is acknowledged, persisted, as soon as it is stored: a
// failure part way leaves every reported post stored, and progress is exact.
// Line numbers in the result count from the start of r. With a fixed
// opts.UndatedTime, running it again after a failure stores nothing twice.
func (c *Client) ImportChunked(ctx context.Context, r io.Reader, chunkLines int, opts ImportOptions, progress func(ImportProgress)) (ImportResult, error) {
	const maxChunkBytes = 8 << 20
	start := time.Now()
	br := bufio.NewReaderSize(r, 1<<20)
	var total ImportResult
	var read int64
	offset := 0 // lines before this chunk
	for {
		var chunk bytes.Buffer
		lines := 0
		var readErr error
		for lines < chunkLines && chunk.Len() < maxChunkBytes {
			line, err := br.ReadBytes('\n')
			read += int64(len(line))
			if len(line) > 0 {
				chunk.Write(line)
				if line[len(line)-1] != '\n' {
					chunk.WriteByte('\n')
				}
				lines++
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if lines > 0 {
			res, err := c.importBody(ctx, &chunk, opts)
			mergeImport(&total, res, offset)
			if err != nil {
				total.TookMS = time.Since(start).Milliseconds()
				return total, fmt.Errorf("import lines %d-%d: %w", offset+1, offset+lines, err)
			}
			offset += lines
			total.Lines = offset
			if progress != nil {
				progress(ImportProgress{ImportResult: total, BytesRead: read, Elapsed: time.Since(start)})
			}
		}
		if readErr != nil {
			total.TookMS = time.Since(start).Milliseconds()
			if errors.Is(readErr, io.EOF) {
				return total, nil
			}
			return total, fmt.Errorf("read import file: %w", readErr)
		}
	}
}

func mergeImport(total *ImportResult, r ImportResult, offset int) {
	total.Accepted += r.Accepted
	total.AlreadyStored += r.AlreadyStored
	total.UnderReplicated += r.UnderReplicated
	total.Rejected += r.Rejected
	for k, v := range r.ByReason {
		if total.ByReason == nil {
			total.ByReason = map[string]int{}
		}
		total.ByReason[k] += v
	}
	for _, e := range r.Errors {
		if len(total.Errors) < MaxReportedErrors {
			total.Errors = append(total.Errors, LineError{Line: e.Line + offset, Error: e.Error})
		}
	}
}
