//! The report's pictures, as inline SVG (sized in its own units, scaled by the stylesheet):
//! a classifier's confusion matrix and a regressor's predicted-against-true scatter. The
//! geometry is plain functions, tested below; the components only place what they compute.

use leptos::prelude::*;

use crate::components::wording::{percent, significant};

/// Roughly how wide one character of a 12px label is, to leave room for the labels.
const CHAR_WIDTH: f64 = 7.0;
/// Room for an axis title.
const TITLE_SPACE: f64 = 22.0;
/// The width a small matrix is drawn at (scaled up, labels included), so that two classes do
/// not make a postage stamp.
const MIN_MATRIX_WIDTH: f64 = 360.0;

/// A linear map from data values (`domain`) to SVG coordinates (`range`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub domain: (f64, f64),
    pub range: (f64, f64),
}

impl Scale {
    pub fn at(&self, value: f64) -> f64 {
        let ((d0, d1), (r0, r1)) = (self.domain, self.range);
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// The smallest and the largest finite value, apart: equal ones are widened so that a scale
/// over them has a length. `None` without finite values.
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (low, high) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        });
    if low > high {
        return None;
    }
    if low == high {
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.05 };
        return Some((low - pad, high + pad));
    }
    Some((low, high))
}

/// How dark a cell of `count` rows is, as a fill opacity: none for no rows, else from a
/// visible tint up to full for the largest count.
pub fn shade(count: u64, max: u64) -> f64 {
    if count == 0 || max == 0 {
        return 0.0;
    }
    0.12 + 0.88 * count as f64 / max as f64
}

/// Whether a cell is dark enough that its count is written in white.
pub fn is_dark(shade: f64) -> bool {
    shade > 0.55
}

/// The classes' names: the model's labels, or "class 0", … when they do not match the matrix.
pub fn class_names(labels: &[String], classes: usize) -> Vec<String> {
    if labels.len() == classes {
        labels.to_vec()
    } else {
        (0..classes).map(|i| format!("class {i}")).collect()
    }
}

/// The matrix in a sentence, for screen readers.
pub fn confusion_summary(counts: &[Vec<u64>], rows: &str) -> String {
    let total: u64 = counts.iter().flatten().sum();
    let correct: u64 = counts.iter().enumerate().filter_map(|(i, row)| row.get(i)).sum();
    let share = if total == 0 { 0.0 } else { correct as f64 / total as f64 };
    format!(
        "Confusion matrix of {total} {rows} over {} classes: {correct} ({}) predicted as their true class",
        counts.len(),
        percent(share)
    )
}

/// Where a confusion matrix's parts go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixLayout {
    pub cell: f64,
    /// Where the cells start: room for the row labels and the axis title on the left, the
    /// column labels and theirs on top.
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// Column labels too wide for their cell are turned 45 degrees.
    pub rotate_columns: bool,
}

impl MatrixLayout {
    pub fn new(classes: usize, longest_label: usize) -> Self {
        let label = longest_label as f64 * CHAR_WIDTH;
        let cell = (label + 16.0).clamp(44.0, 88.0);
        let rotate_columns = label + 8.0 > cell;
        // A label at 45 degrees rises and runs by about 0.71 of its length.
        let slant = label * 0.71;
        let left = TITLE_SPACE + label + 10.0;
        let top = TITLE_SPACE + if rotate_columns { slant + 10.0 } else { 20.0 };
        let right = if rotate_columns { slant } else { 8.0 };
        let side = classes as f64 * cell;
        Self {
            cell,
            left,
            top,
            width: left + side + right,
            height: top + side + 8.0,
            rotate_columns,
        }
    }

    /// The left edge of column `i`.
    pub fn x(&self, i: usize) -> f64 {
        self.left + i as f64 * self.cell
    }

    /// The top edge of row `i`.
    pub fn y(&self, i: usize) -> f64 {
        self.top + i as f64 * self.cell
    }
}

/// A coordinate as the SVG gets it.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

/// A classifier's quantized predictions against the true classes: `counts[true][predicted]`,
/// a row per true class, shaded by count.
#[component]
pub fn ConfusionMatrix(counts: Vec<Vec<u64>>, labels: Vec<String>, rows: String) -> impl IntoView {
    let classes = counts.len();
    let names = class_names(&labels, classes);
    let layout = MatrixLayout::new(classes, names.iter().map(|n| n.chars().count()).max().unwrap_or(0));
    let max = counts.iter().flatten().copied().max().unwrap_or(0);
    let summary = confusion_summary(&counts, &rows);
    let half = layout.cell / 2.0;
    let side = classes as f64 * layout.cell;

    let column_labels = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (x, y) = (layout.x(i) + half, layout.top - 8.0);
            let (anchor, transform) = if layout.rotate_columns {
                ("start", Some(format!("rotate(-45 {} {})", at(x), at(y))))
            } else {
                ("middle", None)
            };
            view! { <text x=at(x) y=at(y) text-anchor=anchor transform=transform class="label">{name.clone()}</text> }
        })
        .collect_view();
    let row_labels = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (x, y) = (layout.left - 8.0, layout.y(i) + half);
            view! { <text x=at(x) y=at(y) text-anchor="end" dominant-baseline="central" class="label">{name.clone()}</text> }
        })
        .collect_view();
    let cells = counts
        .iter()
        .enumerate()
        .flat_map(|(t, row)| row.iter().enumerate().map(move |(p, &count)| (t, p, count)))
        .map(|(t, p, count)| {
            let tint = shade(count, max);
            let text_class = if is_dark(tint) { "count on-dark" } else { "count" };
            view! {
                <rect x=at(layout.x(p)) y=at(layout.y(t)) width=at(layout.cell) height=at(layout.cell)
                    class="cell" fill-opacity=format!("{tint:.2}") />
                <text x=at(layout.x(p) + half) y=at(layout.y(t) + half) text-anchor="middle"
                    dominant-baseline="central" class=text_class>{count.to_string()}</text>
            }
        })
        .collect_view();
    let (left_title_x, left_title_y) = (12.0, layout.top + side / 2.0);

    view! {
        <svg class="chart confusion-matrix" data-testid="confusion-matrix" role="img" aria-label=summary
            viewBox=format!("0 0 {} {}", at(layout.width), at(layout.height)) width=at(layout.width.max(MIN_MATRIX_WIDTH))>
            <text x=at(layout.left + side / 2.0) y="14" text-anchor="middle" class="axis-title">"Predicted class"</text>
            <text x=at(left_title_x) y=at(left_title_y) text-anchor="middle" class="axis-title"
                transform=format!("rotate(-90 {} {})", at(left_title_x), at(left_title_y))>"True class"</text>
            {column_labels}
            {row_labels}
            <rect x=at(layout.left) y=at(layout.top) width=at(side) height=at(side) class="frame" />
            {cells}
        </svg>
    }
    .into_any()
}

/// Where a scatter's plot area is, in its SVG units.
const PLOT: f64 = 320.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 44.0;
const PLOT_RIGHT: f64 = 16.0;

/// The scatter's scales: one extent for both axes (over the true values and the predictions),
/// so that exact predictions lie on the diagonal.
pub fn scatter_scales(points: &[[f64; 2]]) -> Option<(Scale, Scale)> {
    let domain = extent(points.iter().flatten().copied())?;
    let x = Scale {
        domain,
        range: (PLOT_LEFT, PLOT_LEFT + PLOT),
    };
    let y = Scale {
        domain,
        range: (PLOT_TOP + PLOT, PLOT_TOP),
    };
    Some((x, y))
}

/// The scatter in a sentence, for screen readers.
pub fn scatter_summary(count: usize, domain: (f64, f64), rows: &str) -> String {
    format!(
        "Quantized predictions against true values of {count} {rows}, from {} to {}; exact predictions lie on the diagonal",
        significant(domain.0, 3),
        significant(domain.1, 3)
    )
}

/// A regressor's quantized predictions (up) against the true values (across), with the
/// diagonal where they would be equal.
#[component]
pub fn PredictionScatter(points: Vec<[f64; 2]>, rows: String) -> impl IntoView {
    let Some((x, y)) = scatter_scales(&points) else {
        return view! { <p>"No rows to plot."</p> }.into_any();
    };
    let (low, high) = x.domain;
    let summary = scatter_summary(points.len(), x.domain, &rows);
    let (bottom, right) = (PLOT_TOP + PLOT, PLOT_LEFT + PLOT);
    let dots = points
        .iter()
        .filter(|[t, p]| t.is_finite() && p.is_finite())
        .map(|&[t, p]| view! { <circle cx=at(x.at(t)) cy=at(y.at(p)) r="2.5" class="point" /> })
        .collect_view();
    let ticks = [low, high]
        .into_iter()
        .map(|v| {
            let (tx, ty) = (x.at(v), y.at(v));
            view! {
                <line x1=at(tx) y1=at(bottom) x2=at(tx) y2=at(bottom + 5.0) class="axis" />
                <text x=at(tx) y=at(bottom + 18.0) text-anchor="middle" class="label">{significant(v, 3)}</text>
                <line x1=at(PLOT_LEFT - 5.0) y1=at(ty) x2=at(PLOT_LEFT) y2=at(ty) class="axis" />
                <text x=at(PLOT_LEFT - 8.0) y=at(ty) text-anchor="end" dominant-baseline="central" class="label">
                    {significant(v, 3)}
                </text>
            }
        })
        .collect_view();
    let (width, height) = (PLOT_LEFT + PLOT + PLOT_RIGHT, PLOT_TOP + PLOT + PLOT_BOTTOM);
    let (title_x, title_y) = (12.0, PLOT_TOP + PLOT / 2.0);
    view! {
        <svg class="chart prediction-scatter" data-testid="prediction-scatter" role="img" aria-label=summary
            viewBox=format!("0 0 {} {}", at(width), at(height)) width=at(width)>
            <line x1=at(x.at(low)) y1=at(y.at(low)) x2=at(x.at(high)) y2=at(y.at(high)) class="diagonal" />
            {dots}
            <line x1=at(PLOT_LEFT) y1=at(bottom) x2=at(right) y2=at(bottom) class="axis" />
            <line x1=at(PLOT_LEFT) y1=at(PLOT_TOP) x2=at(PLOT_LEFT) y2=at(bottom) class="axis" />
            {ticks}
            <text x=at(PLOT_LEFT + PLOT / 2.0) y=at(height - 6.0) text-anchor="middle" class="axis-title">"True value"</text>
            <text x=at(title_x) y=at(title_y) text-anchor="middle" class="axis-title"
                transform=format!("rotate(-90 {} {})", at(title_x), at(title_y))>"Predicted (quantized)"</text>
        </svg>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_the_domain_onto_the_range_either_way_round() {
        let up = Scale {
            domain: (0.0, 10.0),
            range: (100.0, 0.0),
        };
        assert_eq!(up.at(0.0), 100.0);
        assert_eq!(up.at(10.0), 0.0);
        assert_eq!(up.at(2.5), 75.0);
    }

    #[test]
    fn extents_skip_non_finite_values_and_never_collapse() {
        assert_eq!(extent([3.0, f64::NAN, -1.0, 2.0]), Some((-1.0, 3.0)));
        let (low, high) = extent([2.0, 2.0]).unwrap();
        assert!((low - 1.9).abs() < 1e-12 && (high - 2.1).abs() < 1e-12);
        assert_eq!(extent([0.0]), Some((-1.0, 1.0)));
        assert_eq!(extent([f64::INFINITY]), None);
        assert_eq!(extent(Vec::new()), None);
    }

    #[test]
    fn both_scatter_axes_share_one_extent() {
        let (x, y) = scatter_scales(&[[1.0, 5.0], [3.0, 0.0]]).unwrap();
        assert_eq!(x.domain, (0.0, 5.0));
        assert_eq!(y.domain, x.domain);
        // Up is larger: the y axis runs from the bottom of the plot to its top.
        assert!(y.at(5.0) < y.at(0.0));
        assert!(scatter_scales(&[]).is_none());
    }

    #[test]
    fn cells_are_shaded_by_count() {
        assert_eq!(shade(0, 40), 0.0);
        assert!((shade(40, 40) - 1.0).abs() < 1e-12);
        assert!(shade(1, 40) > 0.1 && shade(1, 40) < shade(20, 40));
        assert_eq!(shade(0, 0), 0.0);
        assert!(is_dark(shade(40, 40)) && !is_dark(shade(2, 40)));
    }

    #[test]
    fn classes_are_named_by_the_labels_that_fit() {
        let labels = vec!["Malignant".to_owned(), "Benign".to_owned()];
        assert_eq!(class_names(&labels, 2), labels);
        assert_eq!(class_names(&labels, 3), ["class 0", "class 1", "class 2"]);
    }

    #[test]
    fn the_summary_counts_the_diagonal() {
        let counts = vec![vec![40, 2], vec![3, 69]];
        assert_eq!(
            confusion_summary(&counts, "test rows"),
            "Confusion matrix of 114 test rows over 2 classes: 109 (95.6%) predicted as their true class"
        );
    }

    /// The charts as the server renders them.
    #[cfg(feature = "ssr")]
    fn html(view: impl FnOnce() -> AnyView) -> String {
        let owner = Owner::new();
        owner.with(|| view().to_html())
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_matrix_names_its_classes_and_writes_its_counts() {
        let html = html(|| {
            let labels = vec!["Malignant".to_owned(), "Benign".to_owned()];
            view! { <ConfusionMatrix counts=vec![vec![40, 2], vec![3, 69]] labels rows="test rows".to_owned() /> }
                .into_any()
        });
        assert!(html.contains(r#"data-testid="confusion-matrix""#), "{html}");
        assert!(html.contains(r#"role="img""#) && html.contains("109 (95.6%)"), "{html}");
        assert!(html.contains("viewBox=\"0 0 "), "{html}");
        // Each label twice (row and column), each count in its cell.
        assert_eq!(html.matches(">Malignant</text>").count(), 2, "{html}");
        assert!(html.contains(">69</text>") && html.contains(">2</text>"), "{html}");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_scatter_draws_a_point_per_row_and_the_diagonal() {
        let html = html(|| {
            view! { <PredictionScatter points=vec![[1.0, 1.2], [2.0, 1.9], [3.0, 3.0]] rows="test rows".to_owned() /> }
                .into_any()
        });
        assert!(html.contains(r#"data-testid="prediction-scatter""#), "{html}");
        assert_eq!(html.matches("<circle").count(), 3, "{html}");
        assert!(
            html.contains(r#"class="diagonal""#) && html.contains(">3.00</text>"),
            "{html}"
        );
    }

    #[test]
    fn the_matrix_leaves_room_for_its_labels() {
        let short = MatrixLayout::new(3, 2);
        assert!(!short.rotate_columns);
        assert_eq!(short.cell, 44.0);
        assert_eq!(short.x(1) - short.x(0), short.cell);
        // "Malignant" fits a wider cell; a longer label turns.
        let binary = MatrixLayout::new(2, 9);
        assert!(!binary.rotate_columns && binary.cell > 9.0 * CHAR_WIDTH);
        let long = MatrixLayout::new(2, 14);
        assert!(long.rotate_columns);
        assert!(long.left > 14.0 * CHAR_WIDTH);
        assert!(long.width >= long.left + 2.0 * long.cell);
        assert!(long.height >= long.top + 2.0 * long.cell);
    }
}
