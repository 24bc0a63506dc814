//! Numbers as people read them: a model's quality, cost and state, in the words the catalogue,
//! the Models page and the report share.

use crate::api::{ModelQuality, ModelState, QualityMeasure, QualityRows};

/// A fraction as a percentage with one decimal: 0.9561 is "95.6%".
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A number rounded to `digits` significant digits, trailing zeros kept (they say how precise
/// it is): 0.012345 is "0.01235" and 123456 is "123500" to four digits.
pub fn significant(value: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    // Scientific notation rounds to the digits first, so a carry (9.99996 to 10.00) moves the
    // exponent before the decimals are counted from it.
    let rounded = format!("{value:.prec$e}", prec = digits - 1);
    let (mantissa, exponent) = rounded.split_once('e').expect("Rust writes an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let rounded: f64 = format!("{mantissa}e{exponent}").parse().expect("a number");
    let decimals = digits as i32 - 1 - exponent;
    format!("{rounded:.prec$}", prec = decimals.max(0) as usize)
}

/// A quality figure in its measure's terms: a share as a percentage, an error with four
/// significant digits.
pub fn quality_value(measure: QualityMeasure, value: f64) -> String {
    match measure {
        QualityMeasure::Accuracy | QualityMeasure::Agreement => percent(value),
        QualityMeasure::MeanAbsoluteError | QualityMeasure::Deviation => significant(value, 4),
    }
}

/// What a quality measures, as a table's heading or a sentence's start.
pub fn measure_name(measure: QualityMeasure) -> &'static str {
    match measure {
        QualityMeasure::Accuracy => "Accuracy",
        QualityMeasure::Agreement => "Agreement with the float model",
        QualityMeasure::MeanAbsoluteError => "MAE",
        QualityMeasure::Deviation => "Deviation from the float model",
    }
}

/// Which rows a quality was measured on, after their number.
pub fn rows_name(rows: QualityRows) -> &'static str {
    match rows {
        QualityRows::Test => "test rows",
        QualityRows::HeldOutCalibration => "held-out calibration rows",
        QualityRows::Calibration => "calibration rows",
    }
}

/// A quality in a few words: the measure and the quantized model's figure.
pub fn quality_short(quality: &ModelQuality) -> String {
    let short_name = match quality.measure {
        QualityMeasure::Accuracy => "Accuracy",
        QualityMeasure::Agreement => "Agreement",
        QualityMeasure::MeanAbsoluteError => "MAE",
        QualityMeasure::Deviation => "Deviation",
    };
    format!("{short_name} {}", quality_value(quality.measure, quality.quantized))
}

/// A quality in a sentence: what the server computes (the quantized model), on which rows, and
/// the float model's figure beside it, e.g. "Accuracy 95.6% on 114 test rows (quantized;
/// float 96.5%)".
pub fn quality_line(quality: &ModelQuality) -> String {
    let value = |v| quality_value(quality.measure, v);
    let rows = format!("{} {}", quality.count, rows_name(quality.rows));
    match quality.measure {
        QualityMeasure::Accuracy | QualityMeasure::MeanAbsoluteError => format!(
            "{} {} on {rows} (quantized; float {})",
            measure_name(quality.measure),
            value(quality.quantized),
            value(quality.float)
        ),
        // Without true values the float model is the reference: only the quantized figure
        // says anything.
        QualityMeasure::Agreement | QualityMeasure::Deviation => format!(
            "{} {} on {rows} (no true values to compare with)",
            measure_name(quality.measure),
            value(quality.quantized)
        ),
    }
}

/// A time in milliseconds, in milliseconds below a second and in seconds above.
pub fn duration(millis: f64) -> String {
    if millis < 1000.0 {
        format!("{millis:.0} ms")
    } else {
        format!("{:.1} s", millis / 1000.0)
    }
}

/// A size in bytes, in binary units: "512 B", "12.3 KiB", "4.5 MiB".
pub fn bytes(count: usize) -> String {
    const KIB: f64 = 1024.0;
    let count = count as f64;
    if count < KIB {
        format!("{count} B")
    } else if count < KIB * KIB {
        format!("{:.1} KiB", count / KIB)
    } else {
        format!("{:.1} MiB", count / (KIB * KIB))
    }
}

/// A model's state as its badge says it.
pub fn state_label(state: ModelState) -> &'static str {
    match state {
        ModelState::Compiling => "Compiling",
        ModelState::Failed => "Failed",
        ModelState::Draft => "Draft",
        ModelState::Published => "Published",
    }
}

/// The Bootstrap colour of a state's badge.
pub fn state_tone(state: ModelState) -> &'static str {
    match state {
        ModelState::Compiling => "text-bg-info",
        ModelState::Failed => "text-bg-danger",
        ModelState::Draft => "text-bg-secondary",
        ModelState::Published => "text-bg-success",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quality(measure: QualityMeasure, float: f64, quantized: f64) -> ModelQuality {
        ModelQuality {
            measure,
            float,
            quantized,
            rows: QualityRows::Test,
            count: 114,
            target_met: true,
        }
    }

    #[test]
    fn percentages_have_one_decimal() {
        assert_eq!(percent(0.956_14), "95.6%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.0), "0.0%");
    }

    #[test]
    fn significant_digits_round_and_keep_their_zeros() {
        assert_eq!(significant(0.012_345_6, 4), "0.01235");
        assert_eq!(significant(1.5, 4), "1.500");
        assert_eq!(significant(123_456.0, 4), "123500");
        assert_eq!(significant(-3.456_78, 3), "-3.46");
        assert_eq!(significant(9.999_96, 4), "10.00");
        assert_eq!(significant(0.0, 4), "0");
    }

    #[test]
    fn quality_lines_name_the_rows_and_the_float_model() {
        assert_eq!(
            quality_line(&quality(QualityMeasure::Accuracy, 0.9649, 0.9561)),
            "Accuracy 95.6% on 114 test rows (quantized; float 96.5%)"
        );
        assert_eq!(
            quality_line(&quality(QualityMeasure::MeanAbsoluteError, 0.123_41, 0.125)),
            "MAE 0.1250 on 114 test rows (quantized; float 0.1234)"
        );
        let mut agreement = quality(QualityMeasure::Agreement, 1.0, 0.99);
        agreement.rows = QualityRows::Calibration;
        assert_eq!(
            quality_line(&agreement),
            "Agreement with the float model 99.0% on 114 calibration rows (no true values to compare with)"
        );
        assert_eq!(
            quality_short(&quality(QualityMeasure::Accuracy, 1.0, 0.5)),
            "Accuracy 50.0%"
        );
    }

    #[test]
    fn durations_and_sizes_pick_their_unit() {
        assert_eq!(duration(850.4), "850 ms");
        assert_eq!(duration(1234.0), "1.2 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12_595), "12.3 KiB");
        assert_eq!(bytes(4_718_592), "4.5 MiB");
    }

    #[test]
    fn states_read_as_their_badges() {
        assert_eq!(state_label(ModelState::Draft), "Draft");
        assert_eq!(state_label(ModelState::Published), "Published");
        assert_eq!(state_tone(ModelState::Failed), "text-bg-danger");
    }
}
