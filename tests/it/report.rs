//! The HTML report and the demo's terminal summary: written by `demo`, self-contained, its
//! headline figures equal to the batch files, every chart drawn in Chromium at desktop and
//! phone widths, and no sideways scrolling at 400 px.

use attrib_tests::{attrib, attrib_bin, chromium, headless_chromium, read_csv, TempDir};
use std::collections::BTreeMap;
use std::path::Path;

/// What the probe script finds in Chromium: per conversion-type view, the charts with visible
/// marks and all charts, and whether the page is wider than the window.
const PROBE: &str = r#"<script>(function(){
var out={views:{},scrollWidth:document.documentElement.scrollWidth,innerWidth:window.innerWidth};
var radios=document.querySelectorAll('input[name=view]');
for(var r=0;r<radios.length;r++){radios[r].checked=true;
 var charts=document.querySelectorAll('svg.chart'),shown=0,drawn=0;
 for(var i=0;i<charts.length;i++){var box=charts[i].getBoundingClientRect();if(box.width===0)continue;shown++;
  var m=charts[i].querySelectorAll('.mark');for(var j=0;j<m.length;j++){var b=m[j].getBBox();if(b.width>0||b.height>0){drawn++;break;}}}
 out.views[radios[r].id]={shown:shown,drawn:drawn,scrollWidth:document.documentElement.scrollWidth};}
radios[0].checked=true;
document.documentElement.setAttribute('data-probe',JSON.stringify(out));})();</script>"#;

/// Runs the probe on a copy of the page (the page itself ships no script) in a window `width`
/// pixels wide and returns what it found.
fn probe(chromium: &Path, page: &Path, width: u32) -> serde_json::Value {
    let html = std::fs::read_to_string(page).expect("page");
    let probed = page.with_file_name(format!("probe-{width}.html"));
    std::fs::write(&probed, html.replace("</body>", &format!("{PROBE}</body>"))).expect("write probe");
    let dom = headless_chromium(chromium, &probed, width, &["--dump-dom"]);
    let raw = dom.split("data-probe=\"").nth(1).and_then(|r| r.split('"').next()).expect("the probe ran");
    let json = raw.replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe answer {json}: {e}"))
}

/// The exact value a headline tile carries, from the first (orders + deals) panel.
fn tile(html: &str, kpi: &str) -> String {
    let at = html.find(&format!("data-kpi=\"{kpi}\"")).unwrap_or_else(|| panic!("no {kpi} tile"));
    html[at..].split("data-value=\"").nth(1).and_then(|v| v.split('"').next()).expect("value").to_string()
}

/// The linear model's headline sums straight from `kpi_daily.csv`.
fn headline_from_batch(dir: &Path) -> BTreeMap<&'static str, i64> {
    let (head, rows) = read_csv(&dir.join("kpi_daily.csv"));
    let col = |name: &str| head.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
    let (model, channel, ty, revenue, spend) =
        (col("model"), col("channel"), col("conversion_type"), col("attributed_revenue_minor"), col("spend_minor"));
    let mut out = BTreeMap::from([("attributed", 0), ("unattributed", 0), ("spend", 0)]);
    for r in rows.iter().filter(|r| r[model] == "linear") {
        let int = |i: usize| r[i].parse::<i64>().expect("integer");
        match r[ty].as_str() {
            "order" | "deal" if r[channel] == "(unattributed)" => {
                *out.get_mut("unattributed").expect("key") += int(revenue)
            }
            "order" | "deal" => *out.get_mut("attributed").expect("key") += int(revenue),
            "" => *out.get_mut("spend").expect("key") += int(spend),
            _ => {}
        }
    }
    out
}

/// The amounts of a summary row (`  name   1,234.56   …`) as minor units, one per column.
fn amounts(line: &str) -> Vec<i64> {
    line.split_whitespace().skip(1).filter_map(|c| c.replace([',', '.'], "").parse().ok()).collect()
}

#[test]
fn the_demo_report_is_self_contained_true_to_the_batch_files_and_renders_at_1400_and_400_px() {
    let out = TempDir::new("report");
    let dir = out.path().to_str().expect("utf-8");
    let run = std::process::Command::new(attrib_bin())
        .args(["demo", "--output", dir, "--people", "1500", "--seed", "5"])
        .output()
        .expect("run demo");
    assert!(run.status.success(), "demo: {}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    let page = out.path().join("report.html");
    assert!(printed.contains(&page.display().to_string()), "demo prints the report's path");

    // The summary's publisher table (in the main currency) adds up to the social platforms'
    // revenue in that currency's channel table.
    let (cur, publishers) = printed
        .split("Social revenue by who published, in ")
        .nth(1)
        .and_then(|p| p.split_once(' '))
        .expect("publisher table");
    let channel_table: Vec<&str> = printed
        .split(&format!("Attributed revenue by channel, in {cur} "))
        .nth(1)
        .expect("channel table of the publisher table's currency")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let header = ["last non-dir", "time decay", "full path"]
        .iter()
        .fold(channel_table[1].to_string(), |h, name| h.replace(name, &name.replace(' ', "_")));
    let linear = header.split_whitespace().position(|c| c == "linear").expect("linear column") - 1;
    let social: i64 = channel_table
        .iter()
        .filter(|l| {
            ["facebook", "instagram", "linkedin", "x", "tiktok", "youtube"]
                .contains(&l.split_whitespace().next().unwrap_or(""))
        })
        .map(|l| amounts(l)[linear])
        .sum();
    assert!(publishers.contains("unknown publisher"), "{publishers}");
    let all_social = publishers.lines().find(|l| l.trim_start().starts_with("all social")).expect("all social row");
    assert_eq!(amounts(&all_social.replacen("all social", "all_social", 1))[0], social, "{all_social}");
    assert!(printed.contains("exceeds the 1500 generated people"), "the people count is explained");
    assert!(printed.contains(&format!("(unattributed) (conversions with no touch in their window): {cur} ")));

    let html = std::fs::read_to_string(&page).expect("report.html");
    // No network: nothing is fetched (no external scripts, styles, fonts or images), and no script.
    for external in ["http://", "https://", "src=", "<link", "@import", "url(", "<script"] {
        assert!(!html.contains(external), "report contains {external}");
    }
    assert!(html.contains("All ") && html.contains("balance to the cent"), "reconciliation section");

    // Headline figures equal the batch files.
    let batch = headline_from_batch(out.path());
    assert_eq!(tile(&html, "attributed_revenue_minor"), batch["attributed"].to_string());
    assert_eq!(tile(&html, "unattributed_revenue_minor"), batch["unattributed"].to_string());
    assert_eq!(tile(&html, "spend_minor"), batch["spend"].to_string());

    // The same report from the batch folder (`attrib report --input`).
    let again = out.path().join("again.html");
    attrib(&["report", "--input", dir, "--out", again.to_str().expect("utf-8")]).expect("report --input");
    let strip_source = |h: &str| h.split(" · source ").next().unwrap_or_default().to_string();
    assert_eq!(strip_source(&std::fs::read_to_string(&again).expect("again")), strip_source(&html));

    let Some(chromium) = chromium() else { return };
    for width in [1400, 400] {
        let found = probe(&chromium, &page, width);
        let views = found["views"].as_object().expect("views");
        assert_eq!(views.len(), 4, "{found}");
        for (view, v) in views {
            let (shown, drawn) = (v["shown"].as_u64().expect("shown"), v["drawn"].as_u64().expect("drawn"));
            assert!(shown >= 6, "{view} at {width}px: {shown} charts shown");
            assert_eq!(drawn, shown, "{view} at {width}px: every shown chart drew visible marks");
            assert!(
                v["scrollWidth"].as_u64() <= found["innerWidth"].as_u64(),
                "{view} at {width}px: the page is wider than the window: {found}"
            );
        }
        let shot = out.path().join(format!("report-{width}.png"));
        headless_chromium(&chromium, &page, width, &[&format!("--screenshot={}", shot.display())]);
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 30_000,
            "a {width}px screenshot with content ({} bytes)",
            png.len()
        );
        if let Ok(keep) = std::env::var("ATTRIB_KEEP_SCREENSHOTS") {
            std::fs::copy(&shot, Path::new(&keep).join(format!("report-{width}.png"))).expect("keep screenshot");
        }
    }
}
