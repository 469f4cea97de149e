//! Results as charts: success rate and failures by code per package and per model, and
//! results per day, drawn as SVG by `templates/console/*.svg`.

use std::collections::BTreeMap;

use askama::Template;

use crate::store::ResultPoint;

/// Width of the bar area of a bar chart, in SVG units.
const BAR_W: f64 = 240.0;

/// One bar: a group's results, successes then failures.
pub struct Bar {
    /// What the bar is for.
    pub label: String,
    /// The label as shown (at most 40 characters).
    pub short: String,
    /// Successes (code 200).
    pub ok: u64,
    /// Failures.
    pub failed: u64,
    /// "75%".
    pub rate: String,
    /// "402: 1, 410: 2" or "".
    pub codes: String,
    /// Width of the success part.
    pub w_ok: f64,
    /// Width of the failure part.
    pub w_failed: f64,
    /// Top of the bar.
    pub y: f64,
}

/// A horizontal bar chart.
#[derive(Template)]
#[template(path = "console/bars.svg", escape = "html")]
pub struct Bars {
    /// Element id suffix (unique on the page).
    pub id: &'static str,
    /// Title (and accessible name).
    pub title: String,
    /// Bars, top to bottom.
    pub bars: Vec<Bar>,
    /// Height of the picture.
    pub height: f64,
}

/// One day's column.
pub struct Column {
    /// "11-26".
    pub label: String,
    /// Successes.
    pub ok: u64,
    /// Failures.
    pub failed: u64,
    /// Left edge.
    pub x: f64,
    /// Top of the success part and its height.
    pub y_ok: f64,
    /// Height of the success part.
    pub h_ok: f64,
    /// Top of the failure part.
    pub y_failed: f64,
    /// Height of the failure part.
    pub h_failed: f64,
}

/// Results per day, stacked.
#[derive(Template)]
#[template(path = "console/days.svg", escape = "html")]
pub struct Days {
    /// Title.
    pub title: String,
    /// Oldest first.
    pub columns: Vec<Column>,
    /// The largest day's total (the scale).
    pub max: u64,
}

/// Successes and failures (by code) of one group.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: BTreeMap<u16, u64>,
}

fn bars(id: &'static str, title: &str, groups: BTreeMap<String, Tally>) -> Bars {
    let max = groups.values().map(|t| t.ok + t.failed.values().sum::<u64>()).max().unwrap_or(1).max(1) as f64;
    let bars: Vec<Bar> = groups
        .into_iter()
        .enumerate()
        .map(|(i, (label, t))| {
            let failed: u64 = t.failed.values().sum();
            let total = t.ok + failed;
            // Long names are cut so that they stay left of the bars (the tooltip has them whole).
            let short = if label.chars().count() > 40 {
                format!("{}…", label.chars().take(39).collect::<String>())
            } else {
                label.clone()
            };
            Bar {
                short,
                label,
                ok: t.ok,
                failed,
                rate: format!("{}%", (t.ok * 100).checked_div(total).unwrap_or(0)),
                codes: t.failed.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", "),
                w_ok: BAR_W * t.ok as f64 / max,
                w_failed: BAR_W * failed as f64 / max,
                y: 30.0 + 34.0 * i as f64,
            }
        })
        .collect();
    let height = 40.0 + 34.0 * bars.len().max(1) as f64;
    Bars { id, title: title.to_owned(), bars, height }
}

fn tally(points: &[ResultPoint], key: impl Fn(&ResultPoint) -> String) -> BTreeMap<String, Tally> {
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    for p in points {
        let t = groups.entry(key(p)).or_default();
        if p.code == 200 {
            t.ok += 1;
        } else {
            *t.failed.entry(p.code).or_default() += 1;
        }
    }
    groups
}

/// Per package (named by `name`).
pub fn by_package(points: &[ResultPoint], name: impl Fn(Option<i64>) -> String) -> Bars {
    bars("package", "Results by package", tally(points, |p| name(p.package_id)))
}

/// Per device model.
pub fn by_model(points: &[ResultPoint]) -> Bars {
    bars("model", "Results by model", tally(points, |p| p.model.clone().unwrap_or_else(|| "unknown model".into())))
}

/// The last `days` days up to `now` (ms), one column each.
pub fn by_day(points: &[ResultPoint], now: i64, days: i64) -> Days {
    const DAY: i64 = 86_400_000;
    let today = now.div_euclid(DAY);
    let mut counts = vec![(0u64, 0u64); days as usize];
    for p in points {
        let age = today - p.recorded_at.div_euclid(DAY);
        if (0..days).contains(&age) {
            let c = &mut counts[(days - 1 - age) as usize];
            if p.code == 200 { c.0 += 1 } else { c.1 += 1 }
        }
    }
    let max = counts.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let plot_h = 120.0;
    let columns = counts
        .iter()
        .enumerate()
        .map(|(i, &(ok, failed))| {
            let day = today - (days - 1 - i as i64);
            let h_ok = plot_h * ok as f64 / max as f64;
            let h_failed = plot_h * failed as f64 / max as f64;
            let base = 30.0 + plot_h;
            Column {
                label: day_label(day),
                ok,
                failed,
                x: 40.0 + 30.0 * i as f64,
                y_ok: base - h_ok,
                h_ok,
                y_failed: base - h_ok - h_failed,
                h_failed,
            }
        })
        .collect();
    Days { title: format!("Results per day, last {days} days"), columns, max }
}

/// "MM-DD" of a day number since 1970 (UTC).
fn day_label(day: i64) -> String {
    let (_, m, d) = portaldm_shared::time::civil_date(day);
    format!("{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: i64, package: i64, code: u16, model: &str) -> ResultPoint {
        ResultPoint { recorded_at: at, package_id: Some(package), code, model: Some(model.into()) }
    }

    #[test]
    fn bars_count_successes_and_failures_by_code() {
        let pts = [point(0, 1, 200, "A"), point(0, 1, 410, "A"), point(0, 1, 410, "B"), point(0, 2, 200, "B")];
        let b = by_package(&pts, |id| format!("pkg {}", id.unwrap_or(0)));
        assert_eq!(b.bars.len(), 2);
        assert_eq!(
            (b.bars[0].ok, b.bars[0].failed, b.bars[0].rate.as_str(), b.bars[0].codes.as_str()),
            (1, 2, "33%", "410: 2")
        );
        assert!((b.bars[0].w_ok + b.bars[0].w_failed - BAR_W).abs() < 1e-9, "the largest group fills the width");
        let m = by_model(&pts);
        assert_eq!(m.bars.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(), ["A", "B"]);
        let svg = b.render().expect("renders");
        assert!(svg.starts_with("<svg") && svg.contains("pkg 1") && svg.contains("33%"), "{svg}");
    }

    #[test]
    fn days_are_columns_oldest_first_and_labels_are_dates() {
        let now = 1_764_115_200_000; // 2025-11-26 00:00 UTC
        let pts = [
            point(now + 5, 1, 200, "A"),
            point(now - 86_400_000, 1, 410, "A"),
            point(now - 20 * 86_400_000, 1, 200, "A"),
        ];
        let d = by_day(&pts, now, 14);
        assert_eq!(d.columns.len(), 14);
        assert_eq!(d.columns[13].label, "11-26");
        assert_eq!(d.columns[12].label, "11-25");
        assert_eq!((d.columns[13].ok, d.columns[12].failed), (1, 1));
        assert_eq!(d.columns.iter().map(|c| c.ok + c.failed).sum::<u64>(), 2, "older results are outside");
        assert_eq!(day_label(0), "01-01");
        let label = b"<script>";
        let b =
            by_model(&[ResultPoint { model: Some(String::from_utf8_lossy(label).into()), ..point(0, 1, 200, "x") }]);
        assert!(!b.render().expect("renders").contains("<script>"), "labels are escaped");
    }
}
