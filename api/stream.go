package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxEventBytes bounds one line of a stream the client reads.
const maxEventBytes = 1 << 20

// Stream follows a live search (GET /api/v1/stream with params): it calls
// post with each post event's ID and hit, oldest first, until ctx ends,
// the node ends the stream, or post returns an error. lastID, if set,
// resumes after that event: the matches written since come first. It
// returns the ID of the last event handed to post, for the next resume.
func (c *Client) Stream(ctx context.Context, params url.Values, lastID string, post func(id string, h Hit) error) (string, error) {
	return c.stream(ctx, "/api/v1/stream?"+params.Encode(), lastID, post)
}

// TimelineStream follows the timeline (GET /api/v1/timeline/stream) as
// Stream follows a search.
func (c *Client) TimelineStream(ctx context.Context, lastID string, post func(id string, h Hit) error) (string, error) {
	return c.stream(ctx, "/api/v1/timeline/stream", lastID, post)
}

func (c *Client) stream(ctx context.Context, path, lastID string, post func(id string, h Hit) error) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return lastID, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return lastID, fmt.Errorf("GET %s%s: %w (is a node running there? start one with 'murmur node')", c.Base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return lastID, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxEventBytes)
	var id, event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			// An event ends.
			if event == "post" && data.Len() > 0 {
				var h Hit
				if err := json.Unmarshal([]byte(data.String()), &h); err != nil {
					return lastID, fmt.Errorf("decode stream event %s: %w", id, err)
				}
				if err := post(id, h); err != nil {
					return lastID, err
				}
				lastID = id
			}
			event = ""
			data.Reset()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "": // a comment: a heartbeat
		case "id":
			id = value
		case "event":
			event = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return lastID, fmt.Errorf("read stream: %w", err)
	}
	return lastID, ctx.Err()
}

// EventID is the ID of a hit's event in a stream: its creation time and
// ID. A stream resumed after it sends what was written since.
func EventID(h Hit) string {
	return h.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + h.ID
}

// EventSince is an event ID that resumes a stream after everything
// written before t.
func EventSince(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) + "/-" }
