"""The offline manifest gate behind `make manifests`.

It renders every kustomization with the real kustomize, then runs checks that each name the
file, the object and the field at fault:

    yamllint   style and syntax of the YAML sources
    render     `kubectl kustomize` succeeds
    schema     strict Kubernetes OpenAPI schemas, oldest and newest supported minor
    crd        custom resources against their pinned CRDs' openAPIV3Schema, unknown fields rejected
    xref       references between objects resolve (selectors, ports, ConfigMaps, Secrets, HPA,
               RBAC, IngressRoutes, Locust master/workers/target, ...)
    app        the manifests agree with the app (routes, Settings fields, port, drain time)
    pss        the restricted Pod Security Standard, field by field
    checkov    checkov's Kubernetes policies, offline
    hadolint   the Dockerfile
"""
