package repoindex

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// An index is built either from every version at once or, after a change, by merging the
// changed versions into the entries of the previous index and sorting again. Whatever order
// the versions arrive in, both give the same bytes, also for versions that differ only in
// build metadata (equal SemVer precedence), versions Helm reads alike ("1.2" and "1.2.0"),
// versions that do not parse, and one version twice with different archives.
func TestSortIsOneOrderWhateverTheInput(t *testing.T) {
	var all []Entry
	for _, v := range []string{"1.0.0+b", "1.0.0+a", "1.0.0", "1.0.0+b.1", "1.0.0+10", "1.0.0+9", "2.0.0-rc.1+x", "2.0.0-rc.1+y",
		"1.2", "1.2.0", "v1.2.0", "not-semver", "also-not"} {
		all = append(all, entry(t, "myapp", v, ""))
	}
	for _, d := range []string{"bbb", "aaa"} {
		e := entry(t, "other", "1.0.0", "")
		e.Digest, e.URL = d, d+"/other-1.0.0.tgz"
		all = append(all, e)
	}
	write := func(entries []Entry) []byte {
		var b bytes.Buffer
		if err := WriteYAML(&b, entries, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	fresh := func(entries []Entry) []Entry {
		out := slices.Clone(entries)
		for i := range out {
			out[i].keyed = false
		}
		return out
	}

	full := fresh(all)
	Sort(full)
	want := write(full)
	var order []string
	for _, e := range full {
		order = append(order, e.Name+" "+e.Version+" "+e.Digest)
	}
	if got := []string{
		"myapp 2.0.0-rc.1+y ", "myapp 2.0.0-rc.1+x ", "myapp v1.2.0 ", "myapp 1.2.0 ", "myapp 1.2 ",
		"myapp 1.0.0+b.1 ", "myapp 1.0.0+b ", "myapp 1.0.0+a ", "myapp 1.0.0+10 ", "myapp 1.0.0+9 ", "myapp 1.0.0 ",
		"myapp not-semver ", "myapp also-not ", "other 1.0.0 aaa", "other 1.0.0 bbb",
	}; !slices.Equal(order, got) {
		t.Errorf("order:\n%q\nwant\n%q", order, got)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		shuffled := fresh(all)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// A full build, from the versions in another order.
		Sort(shuffled)
		if got := write(shuffled); !bytes.Equal(got, want) {
			t.Fatalf("round %d: a full build differs:\n%s\nwant\n%s", round, got, want)
		}
		// An incremental one: an index of some versions, then the others merged in.
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		k := rng.IntN(len(shuffled))
		prev := slices.Clone(shuffled[:k])
		Sort(prev)
		merged := append(prev, shuffled[k:]...)
		Sort(merged)
		if got := write(merged); !bytes.Equal(got, want) {
			t.Fatalf("round %d: an incremental build differs:\n%s\nwant\n%s", round, got, want)
		}
	}
}
