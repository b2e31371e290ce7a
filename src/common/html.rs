//! Self-contained HTML reports: one file, inline CSS and SVG, no script and no network, so a
//! page opens the same on an analyst's laptop, in a ticket attachment or in a headless browser.
//! The incident report (`sekimori incidents --html`) and the tuning pages (`tune report|diff
//! --html`) are drawn with these pieces; colours by severity are `tune::page`'s.

use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// A coloured label.
pub fn badge(label: &str, color: &str) -> String {
    format!(
        "<span class=\"badge\" style=\"background:{color}\">{}</span>",
        esc(label)
    )
}

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2733}
header{background:#1d2733;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#b8c4d0}
main{padding:8px 32px 40px;max-width:1280px}
h2{font-size:17px;margin:28px 0 10px;color:#1d2733}
section.panel{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:14px 18px;margin-bottom:14px}
.row{display:flex;gap:14px;flex-wrap:wrap}.row>section{flex:1;min-width:380px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#4a5866;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;color:#fff;border-radius:3px;padding:0 7px;font-size:12px;font-weight:600}
.tag{display:inline-block;border:1px solid #c5ced8;border-radius:3px;padding:0 6px;font-size:12px;color:#4a5866;margin-right:4px}
.card{background:#fff;border:1px solid #dde2e8;border-left:6px solid #5f7d95;border-radius:6px;padding:12px 18px;margin-bottom:12px}
.card h3{margin:0 0 6px;font-size:15px}
.card .meta{color:#4a5866;font-size:13px}
.card .action{background:#f7f3e8;border-radius:4px;padding:8px 10px;margin:8px 0}
.card ul{margin:4px 0 4px 18px;padding:0}
.muted{color:#6b7785}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f0f2f5;padding:0 3px;border-radius:3px}
svg text{font:12px system-ui,sans-serif;fill:#1d2733}
";

/// A page being written.
pub struct Page {
    body: String,
    title: String,
    subtitle: String,
}

impl Page {
    /// A page with a title and a line under it.
    pub fn new(title: &str, subtitle: &str) -> Page {
        Page {
            body: String::new(),
            title: title.to_string(),
            subtitle: subtitle.to_string(),
        }
    }

    /// Appends raw HTML.
    pub fn raw(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// Appends a section heading.
    pub fn h2(&mut self, text: &str) {
        let _ = write!(self.body, "<h2>{}</h2>", esc(text));
    }

    /// Appends a white panel around `html`.
    pub fn panel(&mut self, title: &str, html: &str) {
        let _ = write!(
            self.body,
            "<section class=\"panel\"><h2>{}</h2>{html}</section>",
            esc(title)
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><style>{CSS}</style></head><body><header><h1>{t}</h1><p>{s}</p></header><main>{b}</main></body></html>\n",
            t = esc(&self.title),
            s = esc(&self.subtitle),
            b = self.body
        )
    }
}

/// A funnel: one bar per stage, widths on a log scale so 10 next to 10,000,000 still shows.
pub fn funnel(stages: &[(&str, u64, &str)]) -> String {
    let (w, bar_h, gap) = (760.0f64, 34.0f64, 10.0f64);
    let max = stages.iter().map(|s| s.1).max().unwrap_or(1).max(1) as f64;
    let h = stages.len() as f64 * (bar_h + gap);
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"funnel\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"
    );
    for (i, (label, v, color)) in stages.iter().enumerate() {
        let frac = if *v == 0 {
            0.0
        } else {
            ((*v as f64).ln_1p() / max.ln_1p()).max(0.02)
        };
        let bw = (w - 260.0) * frac;
        let x = 250.0 + (w - 260.0 - bw) / 2.0;
        let y = i as f64 * (bar_h + gap);
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{ty}\">{}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{bar_h}\" rx=\"3\" fill=\"{color}\"/><text x=\"{tx:.1}\" y=\"{ty}\" text-anchor=\"middle\" style=\"font-weight:600\">{v}</text>",
            esc(label),
            ty = y + bar_h / 2.0 + 4.0,
            tx = 250.0 + (w - 260.0) / 2.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// Grouped vertical bars: per category, one bar per series.
pub fn grouped_bars(categories: &[&str], series: &[(&str, &str, Vec<u64>)]) -> String {
    let (w, h, top, bottom) = (560.0f64, 220.0f64, 16.0f64, 40.0f64);
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let group_w = (w - 20.0) / categories.len().max(1) as f64;
    let bar_w = (group_w - 16.0) / series.len().max(1) as f64;
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"bars\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\">",
        h + 24.0,
        h + 24.0
    );
    let base = h - bottom;
    for (ci, cat) in categories.iter().enumerate() {
        let gx = 10.0 + ci as f64 * group_w;
        for (si, (_, color, vals)) in series.iter().enumerate() {
            let v = vals.get(ci).copied().unwrap_or(0);
            let bh = (base - top) * v as f64 / max;
            let x = gx + 8.0 + si as f64 * bar_w;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v}</text>",
                base - bh,
                bar_w - 3.0,
                x + (bar_w - 3.0) / 2.0,
                base - bh - 3.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w / 2.0,
            base + 16.0,
            esc(cat)
        );
    }
    let mut lx = 10.0;
    for (name, color, _) in series {
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            h - 8.0,
            lx + 16.0,
            h + 2.0,
            esc(name)
        );
        lx += 30.0 + 7.0 * name.len() as f64;
    }
    s.push_str("</svg>");
    s
}

/// `2024-01-31 12:00:00` (UTC) for labels.
pub fn short_ts(ts: i64) -> String {
    let mut b = Vec::with_capacity(34);
    super::time::push_timestamp(&mut b, ts);
    let t = String::from_utf8_lossy(&b);
    t.get(1..20).unwrap_or("").replace('T', " ")
}

/// A small horizontal bar for a table cell (value out of max).
pub fn cell_bar(v: u64, max: u64, color: &str) -> String {
    let w = if max == 0 {
        0.0
    } else {
        (120.0 * v as f64 / max as f64).max(1.0)
    };
    format!(
        "<svg width=\"124\" height=\"12\" viewBox=\"0 0 124 12\"><rect x=\"0\" y=\"1\" width=\"{w:.1}\" height=\"10\" rx=\"2\" fill=\"{color}\"/></svg>"
    )
}

/// A timeline strip: one row per label, a dot per event (time, row, colour).
pub fn timeline(labels: &[String], events: &[(i64, usize, &str)], span: (i64, i64)) -> String {
    let rows = labels.len().max(1);
    let (w, row_h, left) = (900.0f64, 18.0f64, 330.0f64);
    let h = rows as f64 * row_h + 22.0;
    let (t0, t1) = span;
    let len = (t1 - t0).max(1) as f64;
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"timeline\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"
    );
    for (i, l) in labels.iter().enumerate() {
        let y = i as f64 * row_h;
        let short: String = l.chars().take(48).collect();
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e3e7ec\"/>",
            y + 13.0,
            esc(&short),
            w - 10.0,
            y + 9.0,
            y + 9.0
        );
    }
    for &(t, row, color) in events {
        let x = left + (w - left - 14.0) * ((t - t0) as f64 / len);
        let y = row.min(rows - 1) as f64 * row_h + 9.0;
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{color}\" fill-opacity=\"0.75\"/>"
        );
    }
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{:.1}\" class=\"muted\">{}</text><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></svg>",
        h - 4.0,
        esc(&short_ts(t0)),
        w - 10.0,
        h - 4.0,
        esc(&short_ts(t1))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_pages_are_whole() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut p = Page::new("T <1>", "sub");
        p.panel(
            "P",
            &funnel(&[("alerts", 1000, "#000"), ("incidents", 3, "#111")]),
        );
        let html = p.finish();
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
        assert!(html.contains("T &lt;1&gt;") && !html.contains("<script"));
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    }
}
