package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Instance types and architectures (SPEC Concepts).
const (
	TypeStandard = "standard"
	TypeCluster  = "cluster"
	TypeRWSplit  = "rw_split"

	ArchClassic     = "classic"
	ArchCloudNative = "cloud_native"
)

// Instance kind errors.
var (
	ErrInstanceType = errors.New("instance type must be standard, cluster or rw_split")
	ErrArchitecture = errors.New("architecture must be classic or cloud_native")
)

// ParseType accepts an instance type, also in the cloud's spelling (rwsplit) and any case; "" is the
// default, standard.
func ParseType(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", TypeStandard:
		return TypeStandard, nil
	case TypeCluster:
		return TypeCluster, nil
	case TypeRWSplit, "rwsplit":
		return TypeRWSplit, nil
	}
	return "", fmt.Errorf("%q: %w", s, ErrInstanceType)
}

// ParseArchitecture accepts classic or cloud_native (also cloud-native, cloudnative), any case; "" is
// the default, classic.
func ParseArchitecture(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", ArchClassic:
		return ArchClassic, nil
	case ArchCloudNative, "cloud-native", "cloudnative":
		return ArchCloudNative, nil
	}
	return "", fmt.Errorf("%q: %w", s, ErrArchitecture)
}

// InstanceType returns the instance's type, standard when unset.
func (in Instance) InstanceType() string {
	if in.Type == "" {
		return TypeStandard
	}
	return in.Type
}

// InstanceArchitecture returns the instance's architecture, classic when unset.
func (in Instance) InstanceArchitecture() string {
	if in.Architecture == "" {
		return ArchClassic
	}
	return in.Architecture
}

// CanBindSecurityGroups says whether security groups may be bound to the instance (SG3): engine version
// 4.0 or later, and not a cloud-native cluster or read/write splitting instance. The error says why not.
func (in Instance) CanBindSecurityGroups() error {
	major, _, _ := strings.Cut(in.EngineVersion, ".")
	if n, err := strconv.Atoi(major); err != nil || n < 4 {
		return fmt.Errorf("instance %q runs engine version %q: %w", in.ID, in.EngineVersion, ErrEngineNotBindable)
	}
	if in.InstanceArchitecture() == ArchCloudNative && in.InstanceType() != TypeStandard {
		return fmt.Errorf("instance %q is a cloud-native %s instance: %w", in.ID, in.InstanceType(), ErrTypeNotBindable)
	}
	return nil
}

// validateKind checks type, architecture and the bound security groups.
func (in Instance) validateKind() []error {
	var errs []error
	if t, err := ParseType(in.Type); err != nil || (in.Type != "" && t != in.Type) {
		errs = append(errs, fmt.Errorf("%q: %w", in.Type, ErrInstanceType))
	}
	if a, err := ParseArchitecture(in.Architecture); err != nil || (in.Architecture != "" && a != in.Architecture) {
		errs = append(errs, fmt.Errorf("%q: %w", in.Architecture, ErrArchitecture))
	}
	if len(in.SecurityGroups) == 0 {
		return errs
	}
	if err := in.CanBindSecurityGroups(); err != nil {
		errs = append(errs, fmt.Errorf("%w (security groups %s are bound: unbind them first)", err, strings.Join(in.SecurityGroups, ",")))
	}
	if len(in.SecurityGroups) > MaxGroupsPerInstance {
		errs = append(errs, fmt.Errorf("instance %q: %d security groups: %w", in.ID, len(in.SecurityGroups), ErrTooManyBound))
	}
	seen := map[string]bool{}
	for _, id := range in.SecurityGroups {
		if err := CheckSecurityGroupID(id); err != nil {
			errs = append(errs, err)
		} else if seen[id] {
			errs = append(errs, fmt.Errorf("instance %q: security group %q bound twice: %w", in.ID, id, ErrSecurityGroupID))
		}
		seen[id] = true
	}
	return errs
}
