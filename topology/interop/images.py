"""Foreign images are not pulled: each maps to a site's own image (``TOPOLAB_IMAGE_MAP``) or to the kind's."""
from __future__ import annotations

from .. import kinds

LOCAL_PREFIX = "topolab/"


def looks_like_frr(image: str | None) -> bool:
    """Whether an image reference names FRR (``quay.io/frrouting/frr:10``, ``kathara/frr``...)."""
    if not image:
        return False
    repository = image.rsplit("@", 1)[0].lower()
    last = repository.rsplit("/", 1)[-1].split(":", 1)[0]
    return "frr" in last or "frrouting" in repository


def local(kind: str, image: str | None, image_map: dict | None, node: str) -> tuple[str | None, str | None]:
    """The image a node of ``kind`` runs here for its source's ``image`` (None: the kind's own), and a warning
    saying what was replaced (None when nothing was)."""
    if not image:
        return None, None
    mapping = image_map or {}
    untagged = image.rsplit("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    mapped = mapping.get(image) or mapping.get(untagged)
    default = kinds.kind(kind).image
    if mapped:
        return (None if mapped == default else mapped), f"node {node}: image '{image}' runs as '{mapped}' here " \
                                                         "(TOPOLAB_IMAGE_MAP)"
    if image.startswith(LOCAL_PREFIX):
        return (None if image == default else image), None
    return None, f"node {node}: image '{image}' is not pulled here; it runs '{default}', this site's image for its kind"
