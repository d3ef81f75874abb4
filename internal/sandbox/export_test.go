package sandbox

// PIDs is the process ids of r's children: the idle ones (the most recently used last), and
// all of them (idle and rendering).
func (r *Renderer) PIDs() (idle, all []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.idle {
		idle = append(idle, w.cmd.Process.Pid)
	}
	for w := range r.all {
		all = append(all, w.cmd.Process.Pid)
	}
	return idle, all
}
