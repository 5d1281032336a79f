"""Build a real Japanese benchmark corpus from Debian's Japanese documentation packages.

    python benchmarks/debian_ja_corpus.py            # apt-get install (as root) + convert
    python benchmarks/debian_ja_corpus.py --no-install   # convert what is already installed

Installs whichever of the packages below exist in the apt sources (`apt-cache policy`), then
writes `benchmarks/data/debian_ja.jsonl` (git-ignored), one `{"id", "text", "source"}` record per
man page (rendered by groff to UTF-8 text, without its running header, footer and
indentation) and per HTML page (main text by trafilatura). Nothing
from these packages is committed: the benchmark rebuilds its input on each machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PACKAGES = ["manpages-ja", "manpages-ja-dev", "debian-reference-ja", "debian-faq-ja",
            "developers-reference-ja", "maint-guide-ja", "debian-policy-ja", "aptitude-doc-ja"]
OUT = Path(__file__).resolve().parent / "data" / "debian_ja.jsonl"
MAN_WIDTH = 78
_SPACES = re.compile(r"[ \t]{2,}")
_BLANK_RUNS = re.compile(r"\n{3,}")
SKIP_HTML = {"search.html", "index.html", "genindex.html"}  # redirects and search stubs


def available(packages: list[str]) -> list[str]:
    """The packages that the apt sources offer (a candidate version other than '(none)')."""
    found = []
    for name in packages:
        policy = subprocess.run(["apt-cache", "policy", name], capture_output=True,
                                text=True).stdout
        if "Candidate:" in policy and "Candidate: (none)" not in policy:
            found.append(name)
    return found


def install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    names = available(packages)
    print(f"installing: {' '.join(names)}", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *names],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def package_files(package: str) -> list[Path]:
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    return [Path(line) for line in listed.stdout.splitlines() if line]


def render_man(path: Path) -> str | None:
    """A man page as plain UTF-8 text; None for `.so` aliases (they repeat another page)."""
    source = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if source.lstrip().startswith(b".so "):
        return None
    groff = subprocess.run(
        f"preconv -e UTF-8 | groff -mandoc -Tutf8 -rLL={MAN_WIDTH}n -P-cbou",
        shell=True, input=source, capture_output=True)
    return man_body(groff.stdout.decode("utf-8", "replace"))


def man_body(rendered: str) -> str | None:
    """The page's text without the running header and footer lines and the terminal layout
    (indentation, justification spaces, runs of blank lines) that a reader would not copy."""
    lines = [_SPACES.sub(" ", line.strip()) for line in rendered.splitlines()]
    content = [i for i, line in enumerate(lines) if line]
    if len(content) < 3:
        return None
    body = "\n".join(lines[content[1] : content[-1]]).strip("\n")
    return _BLANK_RUNS.sub("\n\n", body) or None


def html_text(path: Path) -> str | None:
    import trafilatura

    html = path.read_text("utf-8", errors="replace")
    return trafilatura.extract(html, include_tables=True, include_comments=False,
                               favor_recall=True, deduplicate=False)


def man_pages(package: str) -> list[Path]:
    return sorted(p for p in package_files(package)
                  if "/man/ja/" in str(p) and p.is_file() and not p.is_symlink())


def html_pages(package: str) -> list[Path]:
    return sorted(p for p in package_files(package)
                  if p.suffix == ".html" and p.is_file() and not p.is_symlink()
                  and p.name not in SKIP_HTML and "/_" not in str(p))


def convert(packages: list[str], out: Path, workers: int = 2) -> dict[str, int]:
    """Write one JSONL record per man page and HTML page; return documents per package."""
    jobs: list[tuple[str, Path, object]] = []
    for package in packages:
        jobs += [(package, p, render_man) for p in man_pages(package)]
        jobs += [(package, p, html_text) for p in html_pages(package)]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # groff runs in child processes
        texts = list(pool.map(lambda job: job[2](job[1]), jobs))
    counts: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as sink:
        for (package, path, _), text in zip(jobs, texts):
            if not text:
                continue
            record = {"id": f"{package}:{path.relative_to('/usr/share')}", "text": text,
                      "source": package}
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            counts[package] = counts.get(package, 0) + 1
    tmp.replace(out)
    return counts


def installed(packages: list[str]) -> list[str]:
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n",
                             *packages], capture_output=True, text=True).stdout
    return [line.split()[0] for line in status.splitlines() if line.endswith(" installed")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-install", action="store_true", help="convert only what is installed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.no_install:
        install(PACKAGES)
    packages = installed(PACKAGES)
    if not packages:
        sys.exit("none of the Debian Japanese documentation packages is installed")
    counts = convert(packages, args.out)
    size = args.out.stat().st_size
    for package, n in counts.items():
        print(f"{package:26s} {n:6d} documents")
    print(f"{'total':26s} {sum(counts.values()):6d} documents, {size / 1e6:.1f} MB -> {args.out}")


if __name__ == "__main__":
    main()
