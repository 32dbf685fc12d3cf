// Package v1alpha1 holds the YzmaCluster API: the desired shape of a Yzma
// cluster (spec) and what the operator observed and is doing (status);
// and the YzmaBackup API: a backup of a cluster into a file on a volume,
// once or on a schedule, which a new cluster's spec.restoreFrom restores.
//
// +kubebuilder:object:generate=true
// +groupName=db.yzma.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of the types in this package.
	GroupVersion = schema.GroupVersion{Group: "db.yzma.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &YzmaCluster{}, &YzmaClusterList{}, &YzmaBackup{}, &YzmaBackupList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
