//! Inline SVG charts with real axes: "nice" ticks, gridlines, one label per axis, legends in
//! HTML (so they wrap on a phone) and a `viewBox` that scales to the page's width.

use crate::esc;
use std::fmt::Write;

/// Colours of series, in order; the last one is kept for "other".
pub const PALETTE: [&str; 8] = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"];
pub const OTHER: &str = "#999999";
const FONT: f64 = 12.0;

/// Evenly spaced round tick values from 0 (or below, for negatives) covering `lo..=hi`.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let raw = span / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() as i64;
    let last = ((hi / step).ceil() as i64).max(first + 1);
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A short number for an axis: 1,200 → "1.2k", 3,400,000 → "3.4M".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract().abs() < 1e-9 { format!("{x:.0}") } else { format!("{x:.1}") };
    let s = s.strip_suffix(".0").map(str::to_string).unwrap_or(s);
    format!("{s}{suffix}")
}

fn open(w: f64, h: f64, label: &str) -> String {
    format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {h}\" style=\"max-width:{w}px\" \
         preserveAspectRatio=\"xMinYMin meet\">",
        esc(label)
    )
}

/// A legend under a chart, as HTML so it wraps on narrow screens.
pub fn legend(items: &[(String, &str)]) -> String {
    let mut s = String::from("<ul class=\"legend\">");
    for (name, color) in items {
        let _ = write!(s, "<li><i style=\"background:{color}\"></i>{}</li>", esc(name));
    }
    s.push_str("</ul>");
    s
}

pub fn empty() -> String {
    "<p class=\"empty\">No data.</p>".to_string()
}

/// The vertical value axis: gridlines and tick labels over `top..top+plot_h`, with a title.
fn y_axis(s: &mut String, t: &[f64], left: f64, top: f64, plot_w: f64, plot_h: f64, title: &str) {
    let (lo, hi) = (t[0], t[t.len() - 1]);
    for v in t {
        let y = top + plot_h - (v - lo) / (hi - lo) * plot_h;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\"/>\
             <text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>",
            compact(*v),
            r = left + plot_w,
            lx = left - 6.0,
            ty = y + FONT / 3.0,
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis-title\" transform=\"translate(14 {cy}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        esc(title),
        cy = top + plot_h / 2.0
    );
}

/// The horizontal value axis: a gridline over `top..top+plot_h` and a label `label_gap` below
/// the plot at each tick.
fn x_axis(s: &mut String, t: &[f64], px: impl Fn(f64) -> f64, top: f64, plot_h: f64, label_gap: f64) {
    for v in t {
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{b}\"/>\
             <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
            compact(*v),
            x = px(*v),
            b = top + plot_h,
            ty = top + plot_h + label_gap
        );
    }
}

/// One line per series over shared x labels (periods); when `partial_last` is set, the last
/// period is not complete yet: its segment is dashed and the period is shaded and labelled.
pub fn line_chart(
    x: &[String],
    series: &[(String, Vec<f64>, &str)],
    y_title: &str,
    x_title: &str,
    partial_last: bool,
) -> String {
    if x.is_empty() || series.is_empty() {
        return empty();
    }
    let (w, h, left, right, top, bottom) = (640.0, 300.0, 64.0, 16.0, 12.0, 52.0);
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let all = series.iter().flat_map(|s| s.1.iter().copied());
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let t = ticks(lo, hi);
    let (lo, hi) = (t[0], t[t.len() - 1]);
    let step = if x.len() > 1 { plot_w / (x.len() - 1) as f64 } else { 0.0 };
    let px = |i: usize| left + if x.len() > 1 { step * i as f64 } else { plot_w / 2.0 };
    let py = |v: f64| top + plot_h - (v - lo) / (hi - lo) * plot_h;
    let mut s = open(w, h, y_title);
    if partial_last && x.len() > 1 {
        let x0 = px(x.len() - 2);
        let _ = write!(
            s,
            "<rect class=\"partial\" x=\"{x0:.1}\" y=\"{top}\" width=\"{step:.1}\" height=\"{plot_h}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\" text-anchor=\"end\">partial</text>",
            tx = x0 + step - 4.0,
            ty = top + FONT
        );
    }
    y_axis(&mut s, &t, left, top, plot_w, plot_h, y_title);
    // At most 6 x labels, evenly spread, always the first and the last.
    let every = x.len().div_ceil(6).max(1);
    for (i, label) in x.iter().enumerate() {
        if i % every == 0 || i == x.len() - 1 {
            if i != x.len() - 1 && x.len() - 1 - i < every / 2 + 1 && i != 0 {
                continue;
            }
            let anchor = if i == 0 {
                "start"
            } else if i == x.len() - 1 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                s,
                "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{b}\" x2=\"{x:.1}\" y2=\"{b2}\"/>\
                 <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"{anchor}\">{}</text>",
                esc(label),
                x = px(i),
                b = top + plot_h,
                b2 = top + plot_h + 4.0,
                ty = top + plot_h + 17.0,
            );
        }
    }
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <text class=\"axis-title\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
        esc(x_title),
        b = py(0.0),
        r = left + plot_w,
        cx = left + plot_w / 2.0,
        ty = h - 8.0
    );
    for (name, values, color) in series {
        let points = |range: std::ops::Range<usize>| -> String {
            range.map(|i| format!("{:.1},{:.1}", px(i), py(values[i]))).collect::<Vec<_>>().join(" ")
        };
        let n = values.len();
        let solid_end = if partial_last && n > 1 { n - 1 } else { n };
        let _ = write!(
            s,
            "<polyline class=\"mark\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points(0..solid_end),
            esc(name)
        );
        if solid_end < n {
            let _ = write!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"4 3\" points=\"{}\"/>",
                points(n - 2..n)
            );
        }
        if n == 1 {
            let _ = write!(
                s,
                "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                px(0),
                py(values[0])
            );
        }
    }
    s.push_str("</svg>");
    let items: Vec<(String, &str)> = series.iter().map(|(n, _, c)| (n.clone(), *c)).collect();
    s + &legend(&items)
}

/// Horizontal bars of (label, value, tooltip); `reference` draws a labelled vertical line
/// (a break-even ROAS of 1, say).
pub fn bar_chart(bars: &[(String, f64, String)], x_title: &str, reference: Option<(f64, &str)>) -> String {
    if bars.is_empty() {
        return empty();
    }
    let (w, left, right, row) = (640.0, 210.0, 70.0, 22.0);
    let top = if reference.is_some() { 22.0 } else { 8.0 };
    let plot_w = w - left - right;
    let plot_h = row * bars.len() as f64;
    let h = top + plot_h + 44.0;
    let lo = bars.iter().map(|b| b.1).fold(0.0, f64::min);
    let hi = bars.iter().map(|b| b.1).chain(reference.map(|r| r.0)).fold(0.0, f64::max);
    let t = ticks(lo, hi);
    let (lo, hi) = (t[0], t[t.len() - 1]);
    let px = |v: f64| left + (v - lo) / (hi - lo) * plot_w;
    let mut s = open(w, h, x_title);
    x_axis(&mut s, &t, px, top, plot_h, 15.0);
    for (i, (label, v, tip)) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let (x0, x1) = (px(0.0).min(px(*v)), px(0.0).max(px(*v)));
        let short: String = if label.chars().count() > 28 {
            label.chars().take(27).chain(std::iter::once('…')).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"mark\" x=\"{x0:.1}\" y=\"{ry:.1}\" width=\"{bw:.1}\" height=\"{bh}\" fill=\"{c}\"><title>{}: {}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{}</text>",
            esc(&short),
            esc(label),
            esc(tip),
            esc(tip),
            lx = left - 6.0,
            ty = y + row / 2.0 + FONT / 3.0,
            ry = y + 3.0,
            bw = (x1 - x0).max(1.0),
            bh = row - 6.0,
            c = if *v < 0.0 { PALETTE[1] } else { PALETTE[0] },
            vx = x1 + 4.0,
        );
    }
    if let Some((v, label)) = reference {
        let _ = write!(
            s,
            "<line class=\"reference\" x1=\"{x:.1}\" y1=\"{t0}\" x2=\"{x:.1}\" y2=\"{b}\"/>\
             <text class=\"reference-label\" x=\"{tx:.1}\" y=\"{ty}\">{}</text>",
            esc(label),
            x = px(v),
            t0 = top - 4.0,
            b = top + plot_h,
            tx = px(v) + 4.0,
            ty = top - 8.0,
        );
    }
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{b}\"/>\
         <text class=\"axis-title\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{}</text></svg>",
        esc(x_title),
        x = px(0.0),
        b = top + plot_h,
        cx = left + plot_w / 2.0,
        ty = h - 4.0
    );
    s
}

/// Vertical bars in groups: one group per label, one bar per series.
pub fn grouped_bars(groups: &[String], series: &[(String, Vec<f64>, &str)], y_title: &str) -> String {
    if groups.is_empty() || series.is_empty() {
        return empty();
    }
    let bottom = if groups.len() > 5 { 96.0 } else { 40.0 };
    let (w, left, right, top) = (640.0, 64.0, 10.0, 12.0);
    let h = 250.0 + bottom;
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let (lo, hi) =
        series.iter().flat_map(|s| s.1.iter().copied()).fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let t = ticks(lo, hi);
    let (lo, hi) = (t[0], t[t.len() - 1]);
    let py = |v: f64| top + plot_h - (v - lo) / (hi - lo) * plot_h;
    let mut s = open(w, h, y_title);
    y_axis(&mut s, &t, left, top, plot_w, plot_h, y_title);
    let group_w = plot_w / groups.len() as f64;
    let bar_w = group_w * 0.8 / series.len() as f64;
    for (g, label) in groups.iter().enumerate() {
        let gx = left + group_w * g as f64;
        for (k, (name, values, color)) in series.iter().enumerate() {
            let v = values.get(g).copied().unwrap_or(0.0);
            let (y0, y1) = (py(0.0).min(py(v)), py(0.0).max(py(v)));
            let _ = write!(
                s,
                "<rect class=\"mark\" x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" fill=\"{color}\">\
                 <title>{}, {}: {}</title></rect>",
                esc(label),
                esc(name),
                compact(v),
                x = gx + group_w * 0.1 + bar_w * k as f64,
                bh = (y1 - y0).max(1.0),
            );
        }
        // Many groups: labels slanted so they do not run into each other.
        let (x, y) = (gx + group_w / 2.0, top + plot_h + 14.0);
        let _ = if groups.len() > 5 {
            write!(s, "<text transform=\"translate({x:.1} {y}) rotate(-30)\" text-anchor=\"end\">{}</text>", esc(label))
        } else {
            write!(s, "<text x=\"{x:.1}\" y=\"{y}\" text-anchor=\"middle\">{}</text>", esc(label))
        };
    }
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{b:.1}\" x2=\"{r}\" y2=\"{b:.1}\"/></svg>",
        b = py(0.0),
        r = left + plot_w
    );
    let items: Vec<(String, &str)> = series.iter().map(|(n, _, c)| (n.clone(), *c)).collect();
    s + &legend(&items)
}

/// Points (x, y, label) on two value axes.
pub fn scatter(points: &[(f64, f64, String)], x_title: &str, y_title: &str) -> String {
    if points.is_empty() {
        return empty();
    }
    let (w, h, left, right, top, bottom) = (640.0, 320.0, 64.0, 16.0, 12.0, 52.0);
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let (xlo, xhi) = points.iter().fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ylo, yhi) = points.iter().fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (tx, ty) = (ticks(xlo, xhi), ticks(ylo, yhi));
    let (xlo, xhi, ylo, yhi) = (tx[0], tx[tx.len() - 1], ty[0], ty[ty.len() - 1]);
    let px = |v: f64| left + (v - xlo) / (xhi - xlo) * plot_w;
    let py = |v: f64| top + plot_h - (v - ylo) / (yhi - ylo) * plot_h;
    let mut s = open(w, h, y_title);
    y_axis(&mut s, &ty, left, top, plot_w, plot_h, y_title);
    x_axis(&mut s, &tx, px, top, plot_h, 17.0);
    for (x, y, label) in points {
        let _ = write!(
            s,
            "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{}\" fill-opacity=\"0.7\"><title>{}</title></circle>",
            px(*x),
            py(*y),
            PALETTE[0],
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis-title\" x=\"{cx}\" y=\"{t}\" text-anchor=\"middle\">{}</text></svg>",
        esc(x_title),
        cx = left + plot_w / 2.0,
        t = h - 8.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 95.0), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(ticks(0.0, 7.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(-30.0, 60.0), vec![-50.0, -25.0, 0.0, 25.0, 50.0, 75.0]);
        assert_eq!(ticks(0.0, 0.0), vec![0.0, 0.25]);
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(1200.0), "1.2k");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(-3_400_000.0), "-3.4M");
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        let bars = vec![("<script>x</script>".to_string(), 1.0, "1".to_string())];
        let svg = bar_chart(&bars, "x", None);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_partial_period_is_marked_and_dashed() {
        let x: Vec<String> = ["w1", "w2", "w3"].iter().map(|s| s.to_string()).collect();
        let svg = line_chart(&x, &[("a".into(), vec![1.0, 2.0, 0.5], PALETTE[0])], "y", "x", true);
        assert!(svg.contains("class=\"partial\"") && svg.contains("stroke-dasharray"));
        let svg = line_chart(&x, &[("a".into(), vec![1.0, 2.0, 0.5], PALETTE[0])], "y", "x", false);
        assert!(!svg.contains("class=\"partial\"") && !svg.contains("stroke-dasharray"));
    }
}
