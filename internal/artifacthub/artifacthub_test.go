package artifacthub

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const id = "5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b"
	for _, tc := range []struct {
		name string
		file string
		want *Metadata
		err  string // substring of the refusal; "" for none
	}{
		{"Artifact Hub's example", "repositoryID: " + id + "\nowners:\n  - name: user1\n    email: user1@email.com\nignore:\n  - name: package1\n  - name: package2\n    version: beta\n",
			&Metadata{RepositoryID: id, Owners: []Owner{{"user1", "user1@email.com"}}, Ignore: []Ignore{{"package1", ""}, {"package2", "beta"}}}, ""},
		{"owners only", "owners:\n- email: a@example.com\n", &Metadata{Owners: []Owner{{Email: "a@example.com"}}}, ""},
		{"a typo in a field", "repositoryId: " + id + "\n", nil, "repositoryId"},
		{"not a UUID", "repositoryID: my-repo\n", nil, "not a UUID"},
		{"an owner without e-mail", "owners:\n- name: jane\n", nil, "owners[0]"},
		{"an ignore rule without name", "ignore:\n- version: beta\n", nil, "ignore[0]: name"},
		{"a bad version pattern", "ignore:\n- name: x\n  version: '(['\n", nil, "regular expression"},
		{"not YAML", "repositoryID: [\n", nil, "invalid"},
		{"too large", "# " + strings.Repeat("x", MaxSize) + "\n", nil, "more than"},
		{"an alias bomb", "a: &a [" + strings.Repeat("x,", 1000) + "]\nowners: [" + strings.Repeat("*a,", 5000) + "]\n", nil, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Parse([]byte(tc.file))
			if tc.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v; want ErrInvalid saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(md, tc.want) {
				t.Fatalf("got %+v; want %+v", md, tc.want)
			}
			out, err := md.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(out)
			if err != nil || !reflect.DeepEqual(again, md) {
				t.Fatalf("Marshal then Parse = %+v, %v; want %+v\n%s", again, err, md, out)
			}
		})
	}
}

func TestParseOwner(t *testing.T) {
	for in, want := range map[string]Owner{
		"Jane Doe <jane@example.com>": {"Jane Doe", "jane@example.com"},
		"jane@example.com":            {"", "jane@example.com"},
	} {
		if got, err := ParseOwner(in); err != nil || got != want {
			t.Errorf("ParseOwner(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParseOwner("Jane Doe"); !errors.Is(err, ErrInvalid) {
		t.Errorf("an owner without e-mail: %v", err)
	}
}
