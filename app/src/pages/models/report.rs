//! The compiler's report on a model: its format, the float model against the quantized one,
//! what a prediction costs, and the quantized model's predictions drawn against the truth.

use leptos::prelude::*;

use super::report_charts::{ConfusionMatrix, PredictionScatter};
use crate::api::{ModelCost, ModelFamily, ModelQuality, ModelReport};
use crate::components::wording::{bytes, measure_name, quality_line, quality_value, rows_name};
use crate::components::{Column, Table};

#[component]
pub fn ReportView(report: ModelReport, labels: Vec<String>) -> impl IntoView {
    let ModelReport {
        format,
        cost,
        calibration,
        evaluation,
        confusion,
        scatter,
    } = report;
    let rows = rows_name(evaluation.rows).to_owned();
    let chart = if !confusion.is_empty() {
        Some(
            view! {
                <h3 class="h5 mt-4">"Confusion matrix"</h3>
                <p class="small text-body-secondary">
                    {format!("The quantized model's classes on the {} {rows}: a row per true class, a column per predicted one.", evaluation.count)}
                </p>
                <ConfusionMatrix counts=confusion labels rows=rows.clone() />
            }
            .into_any(),
        )
    } else if !scatter.is_empty() {
        Some(
            view! {
                <h3 class="h5 mt-4">"Predicted against true values"</h3>
                <p class="small text-body-secondary">
                    {format!("The quantized model's predictions on the {rows} (at most 1000 of them); exact ones lie on the dashed diagonal.")}
                </p>
                <PredictionScatter points=scatter rows=rows.clone() />
            }
            .into_any(),
        )
    } else {
        None
    };
    view! {
        <section class="my-4 model-report" data-testid="model-report" aria-labelledby="report-heading">
            <h2 id="report-heading" class="h4">"Report"</h2>
            <p>"Model format: " <strong>{format}</strong></p>
            <p data-testid="evaluation-line">{quality_line(&evaluation)}</p>
            <h3 class="h5">"Float vs quantized"</h3>
            <p class="small text-body-secondary">
                "The float model as its library computes it, against the quantized model the server "
                "computes under encryption (exactly), on the same rows."
            </p>
            <QualityTable evaluation calibration />
            <h3 class="h5 mt-4">"Cost of one prediction"</h3>
            <CostList cost />
            {chart}
        </section>
    }
    .into_any()
}

/// The evaluation and the compiler's own held-out estimate, float beside quantized.
#[component]
fn QualityTable(evaluation: ModelQuality, calibration: ModelQuality) -> impl IntoView {
    const COLUMNS: &[Column] = &[
        Column::new("Measured"),
        Column::new("Rows"),
        Column::new("Measure"),
        Column::new("Float"),
        Column::new("Quantized"),
        Column::new("Target"),
    ];
    view! {
        <Table class="w-auto quality" columns=COLUMNS compact=true>
            <QualityRow what="Evaluation" quality=evaluation />
            <QualityRow what="Compiler's held-out estimate" quality=calibration />
        </Table>
        <p class="small text-body-secondary">
            "The compiler's accuracy target: the quantized model's accuracy within 1 point of the "
            "float model's, or its mean absolute error within 3%. It chooses the precision on "
            "halves of the calibration rows, each judged with the other half's quantization, and "
            "there demands the target less one standard error, so that the precision holds on new "
            "rows; when no precision meets it, it keeps the most accurate."
        </p>
    }
    .into_any()
}

#[component]
fn QualityRow(what: &'static str, quality: ModelQuality) -> impl IntoView {
    let value = |v| quality_value(quality.measure, v);
    let (target, tone) = if quality.target_met {
        ("Met", "text-bg-success")
    } else {
        ("Not met", "text-bg-warning")
    };
    view! {
        <tr>
            <th scope="row">{what}</th>
            <td>{format!("{} {}", quality.count, rows_name(quality.rows))}</td>
            <td>{measure_name(quality.measure)}</td>
            <td>{value(quality.float)}</td>
            <td>{value(quality.quantized)}</td>
            <td><span class=format!("badge {tone}")>{target}</span></td>
        </tr>
    }
}

/// The compiler's counts: precision, bootstraps, ciphertexts, bytes and the predicted time.
#[component]
fn CostList(cost: ModelCost) -> impl IntoView {
    let levels = 1_u64
        .checked_shl(cost.input_bits)
        .map_or_else(String::new, |n| format!(" ({n} levels)"));
    let figures = [
        ("Input precision", format!("{} bits per input{levels}", cost.input_bits)),
        match cost.family {
            ModelFamily::Trees => ("Leaf precision", format!("{} bits per leaf value", cost.output_bits)),
            ModelFamily::Linear => (
                "Output precision",
                format!(
                    "{} bits per weighted sum (a linear model: no bootstrap)",
                    cost.output_bits
                ),
            ),
            ModelFamily::Network => (
                "Output precision",
                format!(
                    "{} bits per output (a neural network: its hidden neurons are bootstrapped)",
                    cost.output_bits
                ),
            ),
        },
        ("Bootstraps", cost.bootstraps.to_string()),
        ("Ciphertexts per row", cost.ciphertexts.to_string()),
        ("Encrypted row", bytes(cost.row_bytes)),
        (
            "Predicted server time",
            format!(
                "{:.0} ms ({:.2} s) on one core",
                cost.predicted_millis,
                cost.predicted_millis / 1000.0
            ),
        ),
    ];
    view! {
        <dl class="row cost mb-0">
            {figures
                .into_iter()
                .map(|(term, value)| view! {
                    <dt class="col-sm-4">{term}</dt>
                    <dd class="col-sm-8">{value}</dd>
                })
                .collect_view()}
        </dl>
    }
    .into_any()
}
