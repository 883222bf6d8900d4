//! The latency distribution chart: one line per result file, latency against percentile, the
//! percentile axis stretched logarithmically towards the tail (90, 99, 99.9, ...) as
//! HdrHistogram's plots draw it. Text is drawn with an embedded DejaVu Sans (its licence is
//! in bench/assets), so the chart needs no system font library.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::results::RunResult;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The tail the chart reaches: the 99.999th percentile.
const DEEPEST: f64 = 100_000.0;

#[derive(Args)]
pub struct PlotArgs {
    /// Result files, one line each.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    #[arg(long, default_value = "latency.png")]
    out: PathBuf,
    #[arg(long, default_value = "Latency by percentile")]
    title: String,
}

/// Where a percentile sits on the stretched axis: 1 / (1 - p), so 90 is 10 and 99 is 100.
fn stretch(percentile: f64) -> f64 {
    (1.0 / (1.0 - percentile / 100.0)).min(DEEPEST)
}

fn percentile_label(stretched: &f64) -> String {
    let percentile = 100.0 * (1.0 - 1.0 / stretched);
    format!("{}", (percentile * 1000.0).round() / 1000.0)
}

pub fn draw(args: PlotArgs) -> anyhow::Result<()> {
    register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font cannot be read"))?;

    let mut lines = Vec::new();
    for path in &args.results {
        let result = RunResult::read(path)?;
        let points: Vec<(f64, f64)> = result
            .distribution
            .iter()
            .filter(|(percentile, latency)| *percentile < 100.0 && *latency > 0.0)
            .map(|&(percentile, latency)| (stretch(percentile), latency))
            .collect();
        if !points.is_empty() {
            let label = match result.mode.as_str() {
                "open" => format!(
                    "{} (open, {:.0}/s)",
                    result.scenario,
                    result.target_rate.unwrap_or(0.0)
                ),
                _ => result.scenario.clone(),
            };
            lines.push((label, points));
        }
    }
    anyhow::ensure!(!lines.is_empty(), "no result file holds a distribution");

    let latencies = lines.iter().flat_map(|(_, points)| points.iter().map(|(_, latency)| *latency));
    let (low, high) = latencies.fold((f64::INFINITY, 0.0f64), |(low, high), latency| {
        (low.min(latency), high.max(latency))
    });

    let root = BitMapBackend::new(&args.out, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| anyhow!("{error}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&args.title, ("sans-serif", 28))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((1.0..DEEPEST).log_scale(), (low * 0.8..high * 1.25).log_scale())
        .map_err(|error| anyhow!("{error}"))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&|latency| format!("{latency}"))
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|error| anyhow!("{error}"))?;

    for (index, (label, points)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|error| anyhow!("{error}"))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|error| anyhow!("{error}"))?;
    root.present().map_err(|error| anyhow!("{error}"))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_percentiles_are_evenly_spaced_decades() {
        assert!((stretch(90.0) - 10.0).abs() < 1e-9);
        assert!((stretch(99.0) - 100.0).abs() < 1e-6);
        assert_eq!(percentile_label(&1000.0), "99.9");
    }
}
