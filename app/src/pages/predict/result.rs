//! A private prediction's answer: the class and its probability, and where the time went.

use leptos::prelude::*;

use crate::flow::{Outcome, Prediction, PredictionExt};

/// A finished prediction and the time from the click to it, as the page measured it (the
/// e2e reports it).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: Outcome,
    pub click_to_result_ms: f64,
}

#[component]
pub fn ResultCard(answer: Answer, labels: Vec<String>) -> impl IntoView {
    let Answer {
        outcome,
        click_to_result_ms,
    } = answer;
    view! {
        <section class="card my-3" aria-label="Result">
            <div class="card-body">
                <h2 class="h5">"Result"</h2>
                <PredictionView prediction=outcome.prediction.clone() labels />
                <p
                    class="small text-body-secondary mt-2 mb-0"
                    data-testid="prediction-timing"
                    data-key-check-ms=format!("{:.0}", outcome.check_ms)
                    data-click-to-result-ms=format!("{click_to_result_ms:.0}")
                >
                    {timing(&outcome)}
                </p>
            </div>
        </section>
    }
}

/// A decrypted prediction: the class and its probability as a bar (or its decision score, for
/// a classifier without probabilities), or the predicted value.
#[component]
fn PredictionView(prediction: Prediction, labels: Vec<String>) -> impl IntoView {
    let confidence = prediction.confidence(&labels);
    match (prediction.class.clone(), prediction.value) {
        (Some(class), _) if confidence.is_none() => {
            let score = prediction.score(&labels).map(|s| format!("{s:.3}")).unwrap_or_default();
            let tone = tone(prediction.class_index(&labels), labels.len());
            view! {
                <div class="prediction">
                    <p class=format!("display-6 fw-semibold mb-1 {tone}") data-testid="prediction-class">{class}</p>
                    <p class="mb-1">
                        "Decision score " <span data-testid="prediction-score">{score}</span>
                        <span class="text-body-secondary">" (the highest of the classes; this model gives no probabilities)"</span>
                    </p>
                </div>
            }
            .into_any()
        }
        (Some(class), _) => {
            let percent = confidence.map(|p| format!("{:.1}%", p * 100.0)).unwrap_or_default();
            let tone = tone(prediction.class_index(&labels), labels.len());
            view! {
                <div class="prediction">
                    <p class=format!("display-6 fw-semibold mb-1 {tone}") data-testid="prediction-class">{class.clone()}</p>
                    <p class="mb-1">"Probability " <span data-testid="prediction-probability">{percent}</span></p>
                    <meter class="w-100" min="0" max="1" value=confidence.unwrap_or_default().to_string()
                        aria-label=format!("Probability of {class}")></meter>
                </div>
            }
            .into_any()
        }
        (None, Some(value)) => view! {
            <div class="prediction">
                <p class="display-6 fw-semibold mb-1" data-testid="prediction-value">{format!("{value:.3}")}</p>
            </div>
        }
        .into_any(),
        _ => view! { <p>"The model gave no answer."</p> }.into_any(),
    }
}

/// The colour of a predicted class, from its place among the model's labels, never its name: a
/// binary model's first class is shown as the finding (warning colour) and its second as the
/// all-clear, as scikit-learn's breast cancer labels are ordered (0 malignant, 1 benign); the
/// classes of other models share a neutral colour. Models do not say yet which class is the
/// finding: when they do, that replaces this convention.
fn tone(class_index: Option<usize>, classes: usize) -> &'static str {
    match (classes, class_index) {
        (2, Some(0)) => "text-danger",
        (2, Some(1)) => "text-success",
        _ => "text-body",
    }
}

/// Where the time went, in a sentence.
fn timing(done: &Outcome) -> String {
    let mut text = format!(
        "Answered in {:.2} s: encryption {:.2} s, upload and computation {:.2} s, download and decryption {:.2} s",
        done.elapsed_ms / 1000.0,
        done.encrypt_ms / 1000.0,
        done.server_ms / 1000.0,
        done.decrypt_ms / 1000.0,
    );
    if let Some(bootstraps) = done.job.bootstraps {
        text.push_str(&format!(" ({bootstraps} bootstraps on the server)"));
    }
    if let Some(keys) = &done.keys {
        text.push_str(&format!(
            ". Keys were generated first, in {:.1} s ({}).",
            keys.keygen_ms / 1000.0,
            threads(keys.threads),
        ));
    } else {
        text.push('.');
    }
    text
}

/// "1 thread", "2 threads".
fn threads(n: u32) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

#[cfg(test)]
mod tests {
    use super::tone;

    #[test]
    fn the_colour_follows_the_class_index_not_its_name() {
        assert_eq!(tone(Some(0), 2), "text-danger");
        assert_eq!(tone(Some(1), 2), "text-success");
        assert_eq!(tone(Some(1), 3), "text-body");
        assert_eq!(tone(None, 2), "text-body");
    }
}
