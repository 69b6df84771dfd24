package transport

// checkPrivate is a no-op on Windows: the state directory's ACL protects
// secrets there (see packaging).
func checkPrivate(string) error { return nil }
