//! Draws the scaling chart of `make bench` as SVG: flows per second and flow latency (p50,
//! p99) against concurrent handsets, one line per database, from the TSV that
//! scripts/bench-flows.sh writes (`db  concurrency  flows_per_s  p50_ms  p99_ms`).
//!
//! Usage: `bench_chart IN.tsv OUT.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One measured point.
struct Point {
    conc: f64,
    rate: f64,
    p50: f64,
    p99: f64,
}

const W: f64 = 360.0;
const H: f64 = 220.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;

fn log_x(conc: f64, max: f64) -> f64 {
    // log10 from 1 to max across the plot.
    LEFT + W * conc.max(1.0).log10() / max.max(10.0).log10()
}

/// One line of a panel: name, points (concurrency, value), colour, dashed.
type Series<'a> = (String, Vec<(f64, f64)>, &'a str, bool);

fn panel(svg: &mut String, x0: f64, title: &str, unit: &str, series: &[Series], max_conc: f64, log_y: bool) {
    let max_y = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    // Latencies span orders of magnitude: a log axis from 1 up.
    let decades = max_y.max(10.0).log10().ceil();
    let y = |v: f64| {
        if log_y { TOP + H - H * v.max(1.0).log10() / decades } else { TOP + H - H * v / max_y }
    };
    let _ = write!(svg, r#"<g transform="translate({x0},0)"><text x="{LEFT}" y="24" class="t">{title}</text>"#);
    let _ = write!(svg, r#"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" class="ax"/>"#, TOP + H, LEFT + W, TOP + H);
    let _ = write!(svg, r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" class="ax"/>"#, TOP + H);
    let ticks: Vec<f64> = if log_y {
        (0..=decades as i32).map(|d| 10f64.powi(d)).collect()
    } else {
        (0..=4).map(|i| max_y * f64::from(i) / 4.0).collect()
    };
    for v in ticks {
        let _ =
            write!(svg, r#"<text x="{}" y="{:.1}" class="l" text-anchor="end">{v:.0}</text>"#, LEFT - 6.0, y(v) + 4.0);
    }
    let _ = write!(
        svg,
        r#"<text x="12" y="{:.1}" class="l" transform="rotate(-90 12 {:.1})">{unit}</text>"#,
        TOP + H / 2.0,
        TOP + H / 2.0
    );
    let mut c = 1.0;
    while c <= max_conc {
        let x = log_x(c, max_conc);
        let _ = write!(svg, r#"<text x="{x:.1}" y="{}" class="l" text-anchor="middle">{c}</text>"#, TOP + H + 16.0);
        c *= 10.0;
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" class="l" text-anchor="middle">concurrent handsets</text>"#,
        LEFT + W / 2.0,
        TOP + H + 34.0
    );
    for (i, (name, pts, colour, dashed)) in series.iter().enumerate() {
        let path: Vec<String> = pts.iter().map(|(cx, v)| format!("{:.1},{:.1}", log_x(*cx, max_conc), y(*v))).collect();
        let dash = if *dashed { r#" stroke-dasharray="5 4""# } else { "" };
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            path.join(" ")
        );
        for (cx, v) in pts {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{name}: {v:.1} {unit} at {cx}</title></circle>"#,
                log_x(*cx, max_conc),
                y(*v)
            );
        }
        let ly = TOP + 14.0 * i as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}" class="l">{name}</text>"#,
            LEFT + W - 150.0,
            LEFT + W - 130.0,
            LEFT + W - 125.0,
            ly + 4.0
        );
    }
    svg.push_str("</g>");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        eprintln!("usage: bench_chart IN.tsv OUT.svg");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench_chart: {input}: {e}");
            std::process::exit(1);
        }
    };
    let mut by_db: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.starts_with("db\t")) {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(db), Some(conc), Some(rate), Some(p50), Some(p99)) = (f.first(), num(1), num(2), num(3), num(4)) {
            by_db.entry((*db).to_owned()).or_default().push(Point { conc, rate, p50, p99 });
        }
    }
    let max_conc = by_db.values().flat_map(|v| v.iter().map(|p| p.conc)).fold(1.0, f64::max);
    let colours = ["#1f5fbf", "#b3261e", "#1e7d4a", "#7a4bb3"];
    let mut rates = Vec::new();
    let mut lats = Vec::new();
    for (i, (db, pts)) in by_db.iter().enumerate() {
        let colour = colours[i % colours.len()];
        rates.push((db.clone(), pts.iter().map(|p| (p.conc, p.rate)).collect(), colour, false));
        lats.push((format!("{db} p50"), pts.iter().map(|p| (p.conc, p.p50)).collect(), colour, false));
        lats.push((format!("{db} p99"), pts.iter().map(|p| (p.conc, p.p99)).collect(), colour, true));
    }
    let width = 2.0 * (LEFT + W + 40.0);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 320" width="{width}" height="320" role="img" aria-label="Full portal flows: throughput and latency against concurrent handsets"><style>.t{{font:600 14px sans-serif}}.l{{font:11px sans-serif;fill:#333}}.ax{{stroke:#888}}</style><rect width="100%" height="100%" fill="#fff"/>"##
    );
    panel(&mut svg, 0.0, "Completed flows per second", "flows/s", &rates, max_conc, false);
    panel(&mut svg, LEFT + W + 40.0, "Flow latency, log scale (p50 solid, p99 dashed)", "ms", &lats, max_conc, true);
    svg.push_str("</svg>\n");
    if let Err(e) = std::fs::write(&output, svg) {
        eprintln!("bench_chart: {output}: {e}");
        std::process::exit(1);
    }
}
