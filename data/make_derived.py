"""Build the derived parts of the embedded data from the team-written clean corpus.

    python data/make_derived.py

Writes (deterministically, seed 0):
  data/ja/dups/near_duplicates.jsonl   small edits of clean documents (duplicate_of, edit)
  data/ja/dups/exact_duplicates.jsonl  verbatim copies of clean documents
  data/html/page-NN.html + index.tsv    clean documents wrapped in site chrome (nav, ads, sidebar, footer)
  data/warc/sample.warc.gz              some of those pages as WARC response records (needs warcio)

The site chrome below is written by the jaforge team; nothing here is copied from real sites.
"""

from __future__ import annotations

import gzip
import html
import json
import random
from io import BytesIO
from pathlib import Path

DATA = Path(__file__).resolve().parent
SEED = 0

POSTSCRIPTS = ["（追記：誤字を一か所修正しました。）", "※この記事は以前の投稿を再掲したものです。",
               "（編集部注：一部の表現を改めました。）", "以上、ご参考までに。"]
SWAPS = [("とても", "すごく"), ("しかし", "ただ"), ("ですが", "けれど"), ("思います", "考えます"),
         ("また、", "さらに、"), ("少し", "ちょっと"), ("大切", "重要"), ("たくさん", "多く")]


def load_clean() -> list[dict]:
    docs = []
    for path in sorted((DATA / "ja" / "clean").glob("*.jsonl")):
        docs += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return docs


def shingles(text: str, n: int = 5) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def small_edit(text: str, rng: random.Random) -> tuple[str, str]:
    """One or two light edits, as when a page is re-posted or lightly revised."""
    edits = []
    swaps = [(a, b) for a, b in SWAPS if a in text]
    if swaps:
        a, b = rng.choice(swaps)
        text = text.replace(a, b, 1)
        edits.append(f"swap {a}→{b}")
    if rng.random() < 0.5 or not edits:
        note = rng.choice(POSTSCRIPTS)
        text = text + "\n" + note
        edits.append("postscript")
    else:
        text = "【再掲】" + text
        edits.append("prefix")
    return text, "; ".join(edits)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def make_duplicates(docs: list[dict], rng: random.Random) -> None:
    picks = rng.sample(docs, 70)
    near = []
    for i, doc in enumerate(picks[:48]):
        text, how = small_edit(doc["text"], rng)
        near.append({"id": f"near-{i:02d}", "duplicate_of": doc["id"], "edit": how,
                     "jaccard_5gram": round(jaccard(doc["text"], text), 3), "text": text})
    exact = [{"id": f"exact-{i:02d}", "duplicate_of": d["id"], "text": d["text"]}
             for i, d in enumerate(picks[48:])]
    write_jsonl(DATA / "ja" / "dups" / "near_duplicates.jsonl", near)
    write_jsonl(DATA / "ja" / "dups" / "exact_duplicates.jsonl", exact)


SITES = [
    {"name": "まちかど新聞デジタル", "nav": ["トップ", "地域", "経済", "くらし", "スポーツ", "天気"],
     "side": "アクセスランキング", "ad": "PR 引っ越し見積もりが最大50%お得に！今すぐ無料で比較"},
    {"name": "ひだまり日記", "nav": ["ホーム", "プロフィール", "カテゴリー", "アーカイブ", "お問い合わせ"],
     "side": "最近の投稿", "ad": "スポンサーリンク 期間限定セール開催中、送料無料でお届けします"},
    {"name": "おうちごはん帖", "nav": ["レシピ検索", "今日の献立", "特集", "人気ランキング", "ログイン"],
     "side": "こちらのレシピも人気です", "ad": "広告 毎日の料理にプロの包丁を。クーポン配布中"},
    {"name": "緑川町公式ウェブサイト", "nav": ["くらし・手続き", "子育て・教育", "健康・福祉", "観光", "町政情報"],
     "side": "よく見られているページ", "ad": "町の魅力を発信するバナー広告を募集しています"},
    {"name": "みんなの知恵袋広場", "nav": ["質問する", "カテゴリ一覧", "ランキング", "ヘルプ", "新規登録"],
     "side": "関連する質問", "ad": "PR 保険の無料相談はこちら、ポイント還元キャンペーン実施中"},
]


def page_html(doc: dict, site: dict, related: list[str], index: int) -> str:
    title = doc["text"].splitlines()[0][:28]
    paragraphs = "\n".join(f"    <p>{html.escape(p)}</p>" for p in doc["text"].splitlines() if p.strip())
    nav = " ".join(f'<li><a href="/{i}">{html.escape(n)}</a></li>' for i, n in enumerate(site["nav"]))
    side = "".join(f'<li><a href="/post/{i}">{html.escape(r)}</a></li>' for i, r in enumerate(related))
    return f"""<!DOCTYPE html>
<html lang="ja">
<head><meta charset="utf-8"><title>{html.escape(title)} | {site['name']}</title></head>
<body>
<header><div class="logo">{site['name']}</div><nav><ul>{nav}</ul></nav></header>
<div class="ad-banner">{site['ad']}</div>
<main>
  <article>
    <h1>{html.escape(title)}</h1>
    <div class="meta">2026年{index % 12 + 1}月{index % 27 + 1}日 公開</div>
{paragraphs}
  </article>
</main>
<aside><h2>{site['side']}</h2><ul>{side}</ul><div class="ad">{site['ad']}</div></aside>
<footer><ul><li>サイトマップ</li><li>プライバシーポリシー</li><li>利用規約</li></ul>
<p>Copyright © 2026 {site['name']} All rights reserved.</p></footer>
</body>
</html>
"""


def make_html(docs: list[dict], rng: random.Random) -> list[tuple[str, str, str]]:
    picks = rng.sample(docs, 36)
    pages, index = [], []
    for i, doc in enumerate(picks):
        site = SITES[i % len(SITES)]
        related = [d["text"].splitlines()[0][:20] for d in rng.sample(docs, 4)]
        name = f"page-{i:02d}.html"
        content = page_html(doc, site, related, i)
        out = DATA / "html" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(content, encoding="utf-8")
        url = f"https://www.example.jp/site{i % len(SITES)}/{i:02d}.html"
        index.append({"file": name, "source_id": doc["id"], "site": site["name"], "url": url})
        pages.append((url, content, doc["id"]))
    rows = ["file\tsource_id\tsite\turl"] + ["\t".join(r.values()) for r in index]
    (DATA / "html" / "index.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return pages


def make_warc(pages: list[tuple[str, str, str]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = DATA / "warc" / "sample.warc.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for url, content, _ in pages[:12]:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                   protocol="HTTP/1.1")
        record = writer.create_warc_record(url, "response", payload=BytesIO(content.encode("utf-8")),
                                           http_headers=headers,
                                           warc_headers_dict={"WARC-Date": "2026-11-01T00:00:00Z"})
        writer.write_record(record)
    out.write_bytes(buffer.getvalue())


def main() -> None:
    docs = load_clean()
    make_duplicates(docs, random.Random(SEED))
    pages = make_html(docs, random.Random(SEED + 1))
    make_warc(pages)
    print(f"{len(docs)} clean documents → dups, {len(pages)} HTML pages, WARC of 12 records")


if __name__ == "__main__":
    main()
