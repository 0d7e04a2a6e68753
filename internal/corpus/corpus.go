// Package corpus loads real short texts for tests, benchmarks and the demo:
// the fortune cookies of Debian's fortunes packages, in several languages.
package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/murmur-p2p/murmur/post"
)

// Dir is where Debian's fortunes packages install their files.
const Dir = "/usr/share/games/fortunes"

// Packages are the Debian packages whose texts Load reads.
var Packages = []string{"fortunes", "fortunes-de", "fortunes-es", "fortunes-it", "fortunes-ru", "fortunes-pl", "fortunes-cs", "fortunes-zh", "fortunes-br"}

// InstallHint says how to get the corpus.
var InstallHint = "apt-get install " + strings.Join(Packages, " ")

// ErrMissing means the fortunes files are not installed.
var ErrMissing = errors.New("fortunes corpus not installed")

// Entry is one text with its language.
type Entry struct {
	Text string
	Lang string
	File string // relative to Dir
}

// langDirs maps subdirectories to language tags; top-level files are English
// except those listed in topLevelLang. Offensive and duplicate trees are left out.
var langDirs = map[string]string{"de": "de", "es": "es", "it": "it", "ru": "ru", "pl": "pl", "cs": "cs"}

var topLevelLang = map[string]string{"chinese": "zh", "song100": "zh", "tang300": "zh", "brasil": "pt"}

// Available reports whether the corpus is installed.
func Available() bool {
	_, err := os.Stat(filepath.Join(Dir, "fortunes"))
	return err == nil
}

// Load reads every fortune of at most post.MaxTextChars characters, with
// whitespace folded to single spaces, distinct texts only, in a stable order
// (by file, then position).
func Load() ([]Entry, error) {
	if !Available() {
		return nil, fmt.Errorf("%w: %s", ErrMissing, InstallHint)
	}
	var files []string
	err := filepath.WalkDir(Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(Dir, path)
		if d.IsDir() {
			if rel != "." && langDirs[rel] == "" {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 || strings.HasSuffix(rel, ".dat") || strings.HasSuffix(rel, ".u8") {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", Dir, err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	var out []Entry
	for _, rel := range files {
		lang := "en"
		if dir := filepath.Dir(rel); dir != "." {
			lang = langDirs[dir]
		} else if l, ok := topLevelLang[rel]; ok {
			lang = l
		}
		data, err := os.ReadFile(filepath.Join(Dir, rel))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
		for _, text := range split(data) {
			if seen[text] {
				continue
			}
			seen[text] = true
			out = append(out, Entry{Text: text, Lang: lang, File: rel})
		}
	}
	return out, nil
}

// split cuts a fortune file at lines holding only '%' and folds whitespace.
func split(data []byte) []string {
	var out []string
	var cur bytes.Buffer
	flush := func() {
		text := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > post.MaxTextChars || strings.ContainsRune(text, '\x1b') {
			return
		}
		out = append(out, text)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "%" {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	flush()
	return out
}
