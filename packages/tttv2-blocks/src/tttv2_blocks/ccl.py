"""The arguments every collective of a block passes: the catalog's topology and link count.

    out = ttnn.all_reduce(out, **collective_kwargs(self.device, cluster_axis=1))

TTTv1 (``models/tt_transformers/tt/ccl.py``) passes ``num_links=get_num_links(mesh_device, cluster_axis)``
and ``topology=args.ccl_topology()`` (Ring on a T3K, Linear on other meshes) to each collective; the
catalog holds those choices per device and axis (``DeviceSpec.collective``), so blocks read them there.
"""

from __future__ import annotations

from tttv2_hwconfig import device_spec_of, ttnn

__all__ = ["collective_kwargs"]


def collective_kwargs(device, cluster_axis: int | None = None) -> dict:
    """``cluster_axis``, ``topology`` and ``num_links`` for a collective on ``device`` along ``cluster_axis``.

    Where the axis has no chip-to-chip links (a single chip, a one-chip mesh axis) the collective is a
    copy and only ``cluster_axis`` is given.
    """
    settings = device_spec_of(device).collective(cluster_axis)
    if settings.num_links == 0:
        return {"cluster_axis": cluster_axis}
    topology = ttnn.Topology.Ring if settings.topology == "ring" else ttnn.Topology.Linear
    return {"cluster_axis": cluster_axis, "topology": topology, "num_links": settings.num_links}
