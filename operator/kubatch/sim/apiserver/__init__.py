"""An API server for tests and the embedded default, on 127.0.0.1.

It behaves as a real one does for everything Kubatch relies on: discovery, CRDs that add
resources, uid / resourceVersion / generation, 201 on create and generateName, 409 on
conflicts, label and field selectors, the status subresource kept apart from spec, merge,
strategic and JSON patches, PUT, finalizers and graceful pod deletion, owner-reference
garbage collection, namespaces, and watches that resume from a resourceVersion.
"""
