package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/murmur-p2p/murmur/post"
)

// Follows returns what the node's operator follows.
func (c *Client) Follows(ctx context.Context) (*Follows, error) {
	var f Follows
	if err := c.do(ctx, http.MethodGet, "/api/v1/follows", nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Follow follows one author or one search and returns the follows.
func (c *Client) Follow(ctx context.Context, r FollowRequest) (*Follows, error) {
	body, _ := json.Marshal(r)
	var f Follows
	if err := c.do(ctx, http.MethodPost, "/api/v1/follows", bytes.NewReader(body), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Unfollow stops following one author or one search and returns the
// follows.
func (c *Client) Unfollow(ctx context.Context, r FollowRequest) (*Follows, error) {
	params := url.Values{}
	if r.Author != "" {
		params.Set("author", r.Author)
	}
	if r.Search != "" {
		params.Set("search", r.Search)
	}
	var f Follows
	if err := c.do(ctx, http.MethodDelete, "/api/v1/follows?"+params.Encode(), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Timeline returns a page of the followed authors' and searches' posts,
// newest first (params: limit, cursor).
func (c *Client) Timeline(ctx context.Context, params url.Values) (*SearchResponse, error) {
	var r SearchResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/timeline?"+params.Encode(), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetProfile signs the node's profile and places it in the network.
func (c *Client) SetProfile(ctx context.Context, r ProfileRequest) (*post.Profile, error) {
	body, _ := json.Marshal(r)
	var p post.Profile
	if err := c.do(ctx, http.MethodPut, "/api/v1/profile", bytes.NewReader(body), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Profile fetches an author's profile.
func (c *Client) Profile(ctx context.Context, author string) (*post.Profile, error) {
	var p post.Profile
	if err := c.do(ctx, http.MethodGet, "/api/v1/profiles/"+url.PathEscape(author), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
