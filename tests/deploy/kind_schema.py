"""kind's cluster configuration, `kind.x-k8s.io/v1alpha4`, as a Pydantic model written from kind v0.32.0's documented
types (sigs.k8s.io/kind pkg/apis/config/v1alpha4/types.go) and the checks of its `Validate` (pkg/internal/apis/config/
validate.go). kind decodes the file strictly: an unknown field is an error, so every model here forbids extra fields."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CLUSTER_NAME = re.compile(r"^[a-z0-9.-]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatchJSON6902(Strict):
    """A JSON 6902 patch for the kubeadm config document of this group, version and kind (all required)."""

    group: str
    version: str
    kind: str
    patch: str


class Mount(Strict):
    container_path: str = Field("", alias="containerPath")
    host_path: str = Field("", alias="hostPath")
    read_only: bool = Field(False, alias="readOnly")
    selinux_relabel: bool = Field(False, alias="selinuxRelabel")
    propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = None


class PortMapping(Strict):
    container_port: int = Field(0, alias="containerPort", ge=-1, le=65535)
    host_port: int = Field(0, alias="hostPort", ge=-1, le=65535)
    listen_address: str = Field("", alias="listenAddress")
    protocol: Literal["TCP", "UDP", "SCTP"] | None = None


class Node(Strict):
    role: Literal["control-plane", "worker"] = "control-plane"  # kind's default role
    image: str  # defaulted by kind when empty; we always pin it
    labels: dict[str, str] = Field(default_factory=dict)
    extra_mounts: list[Mount] = Field(default_factory=list, alias="extraMounts")
    extra_port_mappings: list[PortMapping] = Field(default_factory=list, alias="extraPortMappings")
    kubeadm_config_patches: list[str] = Field(default_factory=list, alias="kubeadmConfigPatches")
    kubeadm_config_patches_json6902: list[PatchJSON6902] = Field(
        default_factory=list, alias="kubeadmConfigPatchesJSON6902"
    )


class Networking(Strict):
    ip_family: Literal["ipv4", "ipv6", "dual"] = Field("ipv4", alias="ipFamily")
    api_server_port: int = Field(0, alias="apiServerPort", ge=-1, le=65535)
    api_server_address: str = Field("", alias="apiServerAddress")
    pod_subnet: str = Field("", alias="podSubnet")
    service_subnet: str = Field("", alias="serviceSubnet")
    disable_default_cni: bool = Field(False, alias="disableDefaultCNI")
    kube_proxy_mode: Literal["iptables", "ipvs", "nftables", "none"] = Field("iptables", alias="kubeProxyMode")
    dns_search: list[str] | None = Field(None, alias="dnsSearch")


class Cluster(Strict):
    kind: Literal["Cluster"]
    api_version: Literal["kind.x-k8s.io/v1alpha4"] = Field(alias="apiVersion")
    name: str = "kind"
    nodes: list[Node] = Field(default_factory=lambda: [Node(image="")])
    networking: Networking = Field(default_factory=Networking)  # type: ignore[arg-type]
    feature_gates: dict[str, bool] = Field(default_factory=dict, alias="featureGates")
    runtime_config: dict[str, str] = Field(default_factory=dict, alias="runtimeConfig")
    kubeadm_config_patches: list[str] = Field(default_factory=list, alias="kubeadmConfigPatches")
    kubeadm_config_patches_json6902: list[PatchJSON6902] = Field(
        default_factory=list, alias="kubeadmConfigPatchesJSON6902"
    )
    containerd_config_patches: list[str] = Field(default_factory=list, alias="containerdConfigPatches")
    containerd_config_patches_json6902: list[str] = Field(default_factory=list, alias="containerdConfigPatchesJSON6902")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not CLUSTER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid cluster name (must match {CLUSTER_NAME.pattern})")
        return name

    @model_validator(mode="after")
    def _one_control_plane_at_least(self) -> Cluster:
        if not any(node.role == "control-plane" for node in self.nodes):
            raise ValueError("must have at least one control-plane node")
        return self
