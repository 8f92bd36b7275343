"""Adaptive streaming: a video as HLS renditions with a master playlist, a folder any static server plays."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _

from . import ffmpeg
from .base import Progress
from .media import VIDEO_TYPES, FfmpegProcessor, probe_with, scaled_size

# Short side of each rendition, and its video and audio bitrates (kbit/s).
RENDITIONS = [(1080, 5000, 192), (720, 2800, 128), (480, 1400, 96)]


class HlsOptions(forms.Form):
    segment_seconds = forms.IntegerField(label=_("Segment length (seconds)"), min_value=2, max_value=10, initial=4)


class VideoToHls(FfmpegProcessor):
    name = "video_hls"
    label = _("Video to HLS (adaptive streaming)")
    description = _("1080p, 720p and 480p renditions where the source allows, and a master playlist, in a folder "
                    "that plays from any static web server (master.m3u8).")
    accepts = VIDEO_TYPES
    produces = "stream"  # a folder of playlists and segments: no step can follow it
    Options = HlsOptions
    order = 280

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        info = probe_with(source, "video")
        short = min(info.video.width, info.video.height)
        chosen = [r for r in RENDITIONS if r[0] <= short] or [(short, 1000, 96)]
        folder = target_dir / f"{source.stem}-hls"
        folder.mkdir()
        # One decode feeds every rendition: the picture is split, then scaled once per rendition.
        sizes = [scaled_size(info.video.width, info.video.height, side) for side, _v, _a in chosen]
        split = f"[0:v:0]split={len(chosen)}" + "".join(f"[in{i}]" for i in range(len(chosen)))
        scales = [f"[in{i}]scale={w}:{h}:flags=lanczos,setsar=1,format=yuv420p[out{i}]"
                  for i, (w, h) in enumerate(sizes)]
        outputs: list[str] = []
        master = ["#EXTM3U", "#EXT-X-VERSION:3"]
        for index, ((side, video_kbps, audio_kbps), (width, height)) in enumerate(zip(chosen, sizes, strict=True)):
            name = f"{side}p"
            (folder / name).mkdir()
            audio = ["-map", "0:a:0", "-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ac", "2"] if info.audio else []
            outputs += ["-map", f"[out{index}]", *audio, "-sn", "-dn", "-map_metadata", "-1",
                        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                        "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps * 107 // 100}k",
                        "-bufsize", f"{video_kbps * 2}k", "-g", "48", "-sc_threshold", "0",
                        "-f", "hls", "-hls_time", str(options.get("segment_seconds", 4)),
                        # One file a rendition, its segments addressed by byte ranges: a long film is a
                        # handful of objects to store, list, zip and delete, not thousands.
                        "-hls_playlist_type", "vod", "-hls_flags", "single_file",
                        "-hls_segment_filename", f"{name}/stream.ts", f"{name}/index.m3u8"]
            bandwidth = (video_kbps + (audio_kbps if info.audio else 0)) * 1000
            codecs = "avc1.4d401f,mp4a.40.2" if info.audio else "avc1.4d401f"
            master += [f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},CODECS="{codecs}"',
                       f"{name}/index.m3u8"]
        # The time limit of one encode for each rendition, as when they ran one after another.
        ffmpeg.run([*ffmpeg.INPUT_GUARDS, "-i", str(source), "-filter_complex", ";".join([split, *scales]),
                    *outputs], cwd=folder, duration=info.duration, progress=progress,
                   limit=ffmpeg.time_limit(info) * len(chosen))
        (folder / "master.m3u8").write_text("\n".join(master) + "\n")
        return sorted(path for path in folder.rglob("*") if path.is_file())
