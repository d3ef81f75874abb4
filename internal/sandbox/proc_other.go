//go:build !unix

package sandbox

import "os/exec"

// ownGroup does nothing: the child is one process.
func ownGroup(*exec.Cmd) {}

// killGroup kills the child.
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// killedBy is "": exit statuses carry no signal here.
func killedBy(*exec.ExitError) string { return "" }
