package cluster

import "errors"

var (
	// ErrClosed: the member was closed.
	ErrClosed = errors.New("cluster: member closed")
	// ErrBadAuth: ZooKeeper credentials that are not one user:password.
	ErrBadAuth = errors.New("cluster: bad ZooKeeper credentials")
	// ErrAuthFileOpen: a credentials file that others than its owner (and
	// its group) may read or change.
	ErrAuthFileOpen = errors.New("cluster: ZooKeeper credentials file open to others")
)
