//go:build !linux

package xfer

import "os"

// renameBeneath has no confined resolution in one call here: renamePart
// takes os.Root.Rename.
func renameBeneath(top *os.File, dir, from, to string) error { return errNoBeneath }

// openSourceBeneath has no confined resolution in one call here:
// OpenSourceIn takes OpenSource.
func openSourceBeneath(top *os.File, p string) (*os.File, error) { return nil, errNoBeneath }

// dirWithoutLinks cannot tell here: DirWithoutLinks reports false.
func dirWithoutLinks(top *os.File, p string) bool { return false }
