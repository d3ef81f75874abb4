package benchserver

import (
	"os"
	"testing"
)

func TestMemoryOfThisProcess(t *testing.T) {
	rss, hwm, err := Memory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Fatalf("VmRSS %d, VmHWM %d: want 0 < VmRSS ≤ VmHWM", rss, hwm)
	}
	if err := ResetPeak(os.Getpid()); err != nil {
		t.Fatalf("reset VmHWM of this process: %v", err)
	}
}

func TestMemoryOfNoProcess(t *testing.T) {
	if _, _, err := Memory(-1); err == nil {
		t.Fatal("Memory(-1) read something")
	}
}
