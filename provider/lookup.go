package provider

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is returned, wrapped in a *NotFoundError, by Lookup for a
// name the catalogue does not hold.
var ErrNotFound = errors.New("provider: not found")

// NotFoundError names the provider Lookup did not find and the catalogue
// names closest to it. errors.Is(err, ErrNotFound) holds for it.
type NotFoundError struct {
	// Name is the name asked for, as given.
	Name string
	// Suggestions are catalogue names close to Name, best first; possibly
	// none.
	Suggestions []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("provider: unknown provider %q", e.Name)
	if len(e.Suggestions) > 0 {
		msg += " (did you mean " + strings.Join(e.Suggestions, ", ") + "?)"
	}
	return msg
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Lookup returns a copy of the entry named name or one of its aliases,
// compared without regard to case or surrounding space. An unknown name
// returns a *NotFoundError with suggestions. Safe for concurrent use.
func Lookup(name string) (*Entry, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if e, ok := byKey[key]; ok {
		return e.clone(), nil
	}
	return nil, &NotFoundError{Name: name, Suggestions: suggest(key)}
}

// All returns copies of every entry, sorted by Title. Safe for concurrent
// use.
func All() []*Entry {
	out := make([]*Entry, len(sorted))
	for i, e := range sorted {
		out[i] = e.clone()
	}
	return out
}

// byKey maps names and aliases to entries; sorted holds the entries in
// Title order. Both are built once from catalogue and never written again.
var byKey, sorted = index(catalogue)

func index(entries []*Entry) (map[string]*Entry, []*Entry) {
	m := map[string]*Entry{}
	for _, e := range entries {
		for _, k := range append([]string{e.Name}, e.Aliases...) {
			if _, dup := m[k]; dup {
				panic("provider: duplicate catalogue key " + k)
			}
			m[k] = e
		}
	}
	s := slices.Clone(entries)
	slices.SortFunc(s, func(a, b *Entry) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)), cmp.Compare(a.Name, b.Name))
	})
	return m, s
}

// maxSuggestions bounds the names a NotFoundError lists.
const maxSuggestions = 3

// suggest returns the catalogue names closest to key: names of which key is
// a prefix (at least two characters: "sales" → salesforce), and names or
// aliases within a small edit distance (a third of the longer word, at
// least one edit: "salesforse" → salesforce). Closest first, names once.
func suggest(key string) []string {
	type hit struct {
		name string
		dist int
	}
	var hits []hit
	add := func(name string, d int) {
		for i := range hits {
			if hits[i].name == name {
				hits[i].dist = min(hits[i].dist, d)
				return
			}
		}
		hits = append(hits, hit{name, d})
	}
	if key == "" {
		return nil
	}
	for k, e := range byKey {
		if len(key) >= 2 && strings.HasPrefix(k, key) {
			add(e.Name, 0)
			continue
		}
		d := distance(key, k)
		if d <= max(1, max(len(key), len(k))/3) {
			add(e.Name, d)
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.name, b.name)) })
	var out []string
	for _, h := range hits[:min(len(hits), maxSuggestions)] {
		out = append(out, h.name)
	}
	return out
}

// distance is the optimal string alignment distance between a and b (byte
// based; catalogue keys are ASCII): insertions, deletions, substitutions
// and transpositions of neighbours each cost one.
func distance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
