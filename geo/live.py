"""A big layer kept in memory and brought up to date by reading only what changed since.

Reading 100,000 parcels from the store takes seconds; after one parcel is saved, a page must
not pay that again. :class:`LiveLayer` reads the layer once, then on :meth:`LiveLayer.refresh`
asks the store only for features written after the newest time it has seen (less a margin for
transactions that committed late), and replaces those rows; when the layer's own time and count
have not moved, it reads nothing at all. A layer replaced or shrunk is read again in full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import geopandas as gpd
import pandas as pd

from geo.store import EPOCH, Store

LATE_COMMIT = timedelta(minutes=2)
"""A write stamped before the newest time seen but committed after the last refresh is found
if it committed within this margin."""

Transform = Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]


@dataclass
class LiveLayer:
    """One layer's features in memory (with ``transform`` applied), kept current.

    Parameters
    ----------
    layer_id
        The store layer.
    transform
        Applied to every batch of rows read (e.g. computed columns); must work row by row.
    """

    layer_id: str
    transform: Transform = field(default=lambda gdf: gdf)
    frame: gpd.GeoDataFrame | None = field(default=None, init=False)
    newest: str = field(default=EPOCH, init=False)
    token: tuple[str, int] | None = field(default=None, init=False)
    """The layer's ``(updated_at, feature_count)`` when last read: unchanged, nothing is read."""
    generation: int = field(default=0, init=False)
    """Bumped whenever ``frame`` changes: a key for what is derived from it."""
    full_reads: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def refresh(self, store: Store) -> gpd.GeoDataFrame:
        """The current features: all of them the first time, then only the changed ones.

        Returns
        -------
        geopandas.GeoDataFrame
            Shared, not copied: callers must not modify it.
        """
        return self.snapshot(store)[0]

    def snapshot(self, store: Store) -> tuple[gpd.GeoDataFrame, int]:
        """The current features and their generation, read together under the lock (what is
        derived from the frame is keyed by that generation, never by a later one).

        Nothing is kept until every read has succeeded: a read that fails (a database
        restarting) leaves the layer as it was, to be read again next time.
        """
        with self._lock:
            info = store.layer_info(self.layer_id)
            token = (info.updated_at, info.feature_count)
            if self.frame is not None and token == self.token:
                return self.frame, self.generation  # every write bumps the layer's time
            if self.frame is None:
                return self._read_all(store, token)
            since = _minus(self.newest, LATE_COMMIT)
            changed = store.read_layer(self.layer_id, changed_since=since)
            known = self.frame["_version"].reindex(changed.index)
            fresh = changed[~(known >= changed["_version"]).to_numpy()]
            frame, newest = self.frame, self.newest
            if len(fresh):
                merged = pd.concat(
                    [frame.drop(index=fresh.index, errors="ignore"), self.transform(fresh)]
                ).sort_index()
                frame = gpd.GeoDataFrame(merged, geometry="geometry", crs=self.frame.crs)
                newest = max(newest, str(changed["_updated_at"].max()))
            if len(frame) != info.feature_count:
                return self._read_all(store, token)  # replaced or shrunk: start again
            if frame is not self.frame:
                self.frame, self.newest = frame, newest
                self.generation += 1
            self.token = token
            return self.frame, self.generation

    def _read_all(self, store: Store, token: tuple[str, int]) -> tuple[gpd.GeoDataFrame, int]:
        gdf = store.read_layer(self.layer_id, changed_since=EPOCH)
        frame = self.transform(gdf)
        self.newest = str(gdf["_updated_at"].max()) if len(gdf) else EPOCH
        self.frame, self.token = frame, token
        self.generation += 1
        self.full_reads += 1
        return self.frame, self.generation


def _minus(stamp: str, margin: timedelta) -> str:
    when = datetime.fromisoformat(stamp)
    if when - datetime.fromisoformat(EPOCH) <= margin:
        return EPOCH
    return (when - margin).isoformat(timespec="microseconds")
