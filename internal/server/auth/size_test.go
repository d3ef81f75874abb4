package auth

// size returns the entries held.
func (t *throttle) size() (users, addrs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.user.m), len(t.client.m)
}
