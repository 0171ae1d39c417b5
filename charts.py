"""Plotly figures for the pages: class probabilities, and what `evaluate.py` measured (eval.json).

Plain functions from numbers to `go.Figure`, with no Streamlit in them, so a page stays short and
a figure can be tested (or saved) on its own. Fonts are a size up: instructors project these.
"""
import numpy as np
import plotly.graph_objects as go

FONT = dict(size=15)
# Set per axis as well: Streamlit's chart theme overrides the global font size.
AXIS = dict(tickfont=dict(size=14), title_font=dict(size=15))
CHOSEN = "#d62728"  # the threshold chosen on validation, in every figure
HALF = "#7f7f7f"  # the naive 0.5 threshold, dotted, for comparison
DECIDED, UNDECIDED = "#3182bd", "#c6dbef"  # the class the model decided, the others
# Ten classes told apart by everyone: Petroff's 10-colour sequence (2021, arXiv:2107.02270; matplotlib's petroff10),
# chosen to stay apart under every kind of colour blindness. Tableau 10, used before, made 2 and 9 (green, red) the same
# to a deuteranope. A thin dark outline keeps its lighter colours in sight on a washed-out projector.
CLASS_COLOURS = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581",
                 "#92dadd"]
OUTLINE = dict(width=0.5, color="rgba(0, 0, 0, 0.6)")
# A training history's curves: Petroff's without its blue (the validation curve's) and its red and dark orange (CHOSEN's).
TRAINING_COLOURS = [c for c in CLASS_COLOURS[1:] if c not in ("#bd1f01", "#e76300")]


def _layout(fig: go.Figure, title: str, **kwargs) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=17)), font=FONT, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(font=dict(size=14)))
    fig.update_layout(**kwargs)  # after the defaults, so a figure can override them (margin, ...)
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def class_probabilities(probabilities: dict[str, float], threshold: float | None, label: str) -> go.Figure:
    """One horizontal bar per class, its calibrated probability; the class the model decided is darker.

    A two-class model's threshold is on P(its second class), whichever class that is (PNEUMONIA for
    the chest X-ray model, CT_NonCOVID for the CT one): it is marked on that bar only, and the axis
    title says so. 0.5 is dotted across every bar, for comparison.
    """
    names = list(probabilities)
    fig = go.Figure(go.Bar(x=[probabilities[c] for c in names], y=[f"P({c})" for c in names], orientation="h",
                           marker_color=[DECIDED if c == label else UNDECIDED for c in names],
                           texttemplate="%{x:.1%}", textposition="auto", textfont=dict(size=14),
                           hovertemplate="%{y} = %{x:.3f}<extra></extra>"))
    lines = [(0.5, "0.5", HALF, "dot", 2, (-0.5, len(names) - 0.5))]
    title = "calibrated probability"
    if threshold is not None and len(names) == 2:
        # Rows sit at y = 0, 1, ... from the bottom: the second class's bar is the top one, at y = 1.
        lines.append((threshold, f"threshold {threshold:.2f}", CHOSEN, "solid", 3, (0.5, 1.5)))
        title = f"red line: the threshold, on P({names[1]})"  # short: the axis may be narrow
    # Labels above the plot, each on its line's outer side (the lower line's to the left): never overlapping.
    for (x, text, color, dash, width, (y0, y1)), anchor in zip(sorted(lines), ("right", "left")):
        fig.add_shape(type="line", x0=x, x1=x, y0=y0, y1=y1, yref="y", line=dict(color=color, width=width, dash=dash))
        fig.add_annotation(x=x, y=1, yref="paper", yanchor="bottom", xanchor=anchor, showarrow=False,
                           text=text, font=dict(color=color, size=14))
    return _layout(fig, "", height=110 + 45 * len(names), showlegend=False, margin=dict(l=10, r=20, t=30, b=10),
                   xaxis=dict(range=[0, 1], tickformat=".0%", dtick=0.1, title=title),
                   yaxis=dict(range=[-0.5, len(names) - 0.5]))


def confusion_matrix(report: dict, class_names: list[str], title: str) -> go.Figure:
    """Counts [[tn, fp], [fn, tp]] (or K x K): rows the true class, columns the predicted one.

    Coloured by the share of each row, so a rare class's mistakes show as clearly as a common one's.
    """
    counts = report["confusion_matrix"]
    shares = [[n / (sum(row) or 1) for n in row] for row in counts]
    text = [[f"{n}<br>{share:.1%}" for n, share in zip(row, row_shares)] for row, row_shares in zip(counts, shares)]
    fig = go.Figure(go.Heatmap(z=shares, zmin=0, zmax=1, x=[f"predicted {c}" for c in class_names],
                               y=[f"true {c}" for c in class_names], customdata=counts, text=text,
                               texttemplate="%{text}", textfont=dict(size=15), colorscale="Blues", showscale=False,
                               hovertemplate="%{y}, %{x}: %{customdata} images, %{z:.1%} of the row<extra></extra>"))
    return _layout(fig, title, height=200 + 70 * len(class_names), yaxis=dict(autorange="reversed"))


def _operating_points(fig: go.Figure, evaluation: dict, x_of, y_of) -> None:
    """Mark the chosen threshold and 0.5 where they sit on a curve."""
    for key, color, symbol, note in (("at_threshold", CHOSEN, "circle", " (chosen on val)"),
                                     ("at_0.5", HALF, "diamond", "")):
        report = evaluation[key]
        fig.add_trace(go.Scatter(x=[x_of(report)], y=[y_of(report)], mode="markers", cliponaxis=False,
                                 marker=dict(color=color, size=13, symbol=symbol, line=dict(color="white", width=1)),
                                 name=f"threshold {report['threshold']:.2f}{note}"))


def roc(evaluation: dict) -> go.Figure:
    """ROC curve with its AUC, the chance diagonal, and the two operating points."""
    curve = evaluation["roc"]
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=HALF, dash="dash"), name="chance"),
        go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", line=dict(width=3), name="model",
                   customdata=curve["threshold"],
                   hovertemplate="FPR %{x:.3f}, TPR %{y:.3f}<br>threshold %{customdata:.3f}<extra></extra>"),
    ])
    _operating_points(fig, evaluation, lambda r: 1 - r["specificity"], lambda r: r["sensitivity"])
    return _layout(fig, f"ROC curve (AUC {evaluation['roc_auc']:.3f})", height=420,
                   xaxis=dict(title="false positive rate (1 - specificity)", range=[0, 1]),
                   yaxis=dict(title="true positive rate (sensitivity)", range=[0, 1.02]),
                   legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))


def roc_overlay(rows: list[dict], title: str) -> go.Figure:
    """Several models' ROC curves on one test split (scripts/compare_transfer.py's rows), AUC in the legend."""
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=HALF, dash="dash"), name="chance")])
    for row in rows:
        fig.add_trace(go.Scatter(x=row["roc"]["fpr"], y=row["roc"]["tpr"], mode="lines", line=dict(width=3),
                                 name=f"{row['label']} (AUC {row['roc_auc']:.3f})",
                                 hovertemplate="FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>"))
    return _layout(fig, title, height=460,
                   xaxis=dict(title="false positive rate (1 - specificity)", range=[0, 1]),
                   yaxis=dict(title="true positive rate (sensitivity)", range=[0, 1.02]),
                   legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))


def precision_recall(evaluation: dict) -> go.Figure:
    """Precision-recall curve with its average precision, the prevalence baseline and the operating points."""
    curve = evaluation["pr"]
    prevalence = evaluation["class_counts"][1] / max(1, evaluation["n"])  # what always saying "positive" scores
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[prevalence, prevalence], mode="lines", line=dict(color=HALF, dash="dash"),
                   name=f"prevalence {prevalence:.2f}"),
        go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines", line=dict(width=3), name="model",
                   customdata=curve["threshold"],
                   hovertemplate="recall %{x:.3f}, precision %{y:.3f}<br>threshold %{customdata:.3f}<extra></extra>"),
    ])
    _operating_points(fig, evaluation, lambda r: r["sensitivity"], lambda r: r["precision"])
    return _layout(fig, f"Precision-recall (average precision {evaluation['average_precision']:.3f})", height=420,
                   xaxis=dict(title="recall (sensitivity)", range=[0, 1]),
                   yaxis=dict(title="precision", range=[0, 1.02]),
                   legend=dict(x=0.02, y=0.02, xanchor="left", yanchor="bottom"))


def reliability(evaluation: dict) -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin; a calibrated model follows the diagonal."""
    bins = evaluation["reliability"]
    fig = go.Figure([
        go.Bar(x=[(b["low"] + b["high"]) / 2 for b in bins], y=[b["accuracy"] for b in bins],
               width=[b["high"] - b["low"] for b in bins], marker_color="#1f77b4", marker_line_color="white",
               name="accuracy in bin", customdata=[[b["count"], b["confidence"]] for b in bins],
               hovertemplate="confidence %{customdata[1]:.3f}<br>accuracy %{y:.3f}<br>%{customdata[0]} images"
                             "<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=HALF, dash="dash"), name="perfect calibration"),
        go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="markers",
                   marker=dict(color=CHOSEN, size=9), name="mean confidence"),
    ])
    return _layout(fig, f"Reliability (expected calibration error {evaluation['ece']:.3f})", height=420,
                   xaxis=dict(title="confidence (top-class probability)", range=[0, 1]),
                   yaxis=dict(title="accuracy", range=[0, 1.02]), bargap=0,
                   legend=dict(x=0.02, y=0.98, xanchor="left", yanchor="top"))


def dice_histogram(evaluation: dict) -> go.Figure:
    """Per-image Dice of a segmenter: the mean hides the images where it fails completely."""
    fig = go.Figure(go.Histogram(x=evaluation["per_image_dice"], xbins=dict(start=0, end=1.0001, size=0.05),
                                 marker_color="#1f77b4", marker_line_color="white", marker_line_width=1,
                                 hovertemplate="Dice %{x}<br>%{y} images<extra></extra>"))
    fig.add_vline(x=evaluation["dice"], line=dict(color=CHOSEN, width=3), annotation_position="top left",
                  annotation=dict(text=f"mean {evaluation['dice']:.3f}", font=dict(color=CHOSEN, size=14)))
    return _layout(fig, f"Dice per image ({evaluation['n']} images)", height=380,
                   xaxis=dict(title="Dice (1 = the predicted mask matches the drawn one exactly)", range=[0, 1]),
                   yaxis=dict(title="images"), bargap=0)


DOMAIN_COLOURS = {"MNIST": "#3182bd", "MNIST-M": "#e6550d"}  # source, target


def domain_projection(projected: dict, titles: dict[str, str]) -> go.Figure:
    """One scatter per classifier, side by side: its features projected to 2-D, coloured by domain,
    each point labelled with its digit. `projected`: {"points": {model: (N, 2)}, "labels": (N,),
    "domains": [N names]}; `titles`: {model: panel title}."""
    from plotly.subplots import make_subplots

    names = list(titles)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[titles[n] for n in names], horizontal_spacing=0.06)
    domains = list(projected["domains"])
    for col, name in enumerate(names, start=1):
        points = projected["points"][name]
        for domain, colour in DOMAIN_COLOURS.items():
            keep = [i for i, d in enumerate(domains) if d == domain]
            fig.add_trace(go.Scatter(
                x=points[keep, 0], y=points[keep, 1], mode="markers+text", name=domain, legendgroup=domain,
                showlegend=col == 1, text=[str(projected["labels"][i]) for i in keep], textfont=dict(size=9, color=colour),
                textposition="middle center", marker=dict(color=colour, size=11, opacity=0.25),
                hovertemplate=f"{domain}, digit %{{text}}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="PC 1", showticklabels=False, row=1, col=col)
        fig.update_yaxes(title_text="PC 2", showticklabels=False, row=1, col=col)
    return _layout(fig, "Classifier features, PCA to 2-D: MNIST (source) vs MNIST-M (target) test images",
                   height=520, legend=dict(orientation="h", y=-0.08))


# GAN lab: colours as GAN Lab's, real data green and generated purple.
REAL, FAKE = "#1a9850", "#7b3294"


def gan_field(axis, field, real, fake, *, caption: str) -> go.Figure:
    """The discriminator's verdict over the plane (a heatmap), real samples and generated ones on top."""
    fig = go.Figure(go.Heatmap(x=axis, y=axis, z=field, zmin=0, zmax=1, colorscale="PRGn", reversescale=False,
                               opacity=0.55, colorbar=dict(title=dict(text="D: real?", side="right"), len=0.8)))
    fig.add_trace(go.Scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real",
                             marker=dict(color=REAL, size=5, opacity=0.7)))
    fig.add_trace(go.Scatter(x=fake[:, 0], y=fake[:, 1], mode="markers", name="generated",
                             marker=dict(color=FAKE, size=5, opacity=0.8)))
    fig.update_xaxes(range=[-1.2, 1.2], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-1.2, 1.2], showgrid=False, zeroline=False, scaleanchor="x")
    # The legend's top under the axis' numbers (a legend low on the plot is anchored by its bottom, over them).
    return _layout(fig, caption, height=480, legend=dict(orientation="h", yanchor="top", y=-0.1))


def gan_losses(history: dict, loss: str, *, points: int = 300) -> go.Figure:
    """Both players' losses against the step: each curve averaged over consecutive windows so that at most
    `points` remain (a GAN's per-step losses are too noisy to read)."""
    steps = np.asarray(history["step"])
    window = max(1, len(steps) // points)
    n = len(steps) // window * window or len(steps)
    fig = go.Figure()
    for key, colour in (("discriminator", REAL), ("generator", FAKE)):
        values = np.asarray(history[key][:n]).reshape(-1, window).mean(1)
        fig.add_trace(go.Scatter(x=steps[:n].reshape(-1, window)[:, -1], y=values, mode="lines", name=key,
                                 line=dict(color=colour)))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=f"{loss} loss" + (f", mean of {window} steps" if window > 1 else ""))
    return _layout(fig, "Losses", height=300, legend=dict(orientation="h", y=-0.3))


def training_history(rows: list[dict], score: str, kept: int | None = None) -> go.Figure:
    """train.py's row per epoch: the training step's figures on the left, the validation `score` on the right,
    the epoch `kept` (whose weights were shipped) ringed and marked on both. A validation point's hover gives its
    epoch's learning rate and seconds, where recorded."""
    from plotly.subplots import make_subplots

    epochs = [row["epoch"] for row in rows]
    validation = [row[f"val_{score}"] for row in rows]
    trained = [key for key in rows[0] if key not in ("epoch", "lr", "seconds") and not key.startswith("val_")]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Training: each step's figures, mean per epoch", f"Validation {score}"))
    for i, key in enumerate(trained):
        fig.add_trace(go.Scatter(x=epochs, y=[row.get(key) for row in rows], mode="lines+markers", name=key,
                                 line=dict(width=3, color=TRAINING_COLOURS[i % len(TRAINING_COLOURS)]),
                                 hovertemplate=f"epoch %{{x}}: {key} %{{y:.4g}}<extra></extra>"), row=1, col=1)
    hover = [f"epoch {row['epoch']}: {score} {value:.4g}" + (f"<br>learning rate {row['lr']:.2g}" if "lr" in row else "")
             + (f"<br>{row['seconds']:.0f} s" if "seconds" in row else "") for row, value in zip(rows, validation)]
    fig.add_trace(go.Scatter(x=epochs, y=validation, mode="lines+markers", name=f"validation {score}", text=hover,
                             line=dict(width=3, color=CLASS_COLOURS[0]), hovertemplate="%{text}<extra></extra>",
                             showlegend=False), row=1, col=2)
    if kept in epochs:
        fig.add_vline(x=kept, line=dict(color=CHOSEN, width=1.5, dash="dot"), row="all", col="all")
        fig.add_trace(go.Scatter(x=[kept], y=[validation[epochs.index(kept)]], mode="markers", cliponaxis=False,
                                 name=f"kept: epoch {kept}", hoverinfo="skip",
                                 marker=dict(symbol="circle-open", size=20, color=CHOSEN, line=dict(width=3))),
                      row=1, col=2)
    fig.update_annotations(font=dict(size=16))  # the two panels' titles
    fig.update_xaxes(title_text="epoch", tickformat="d", range=[min(epochs) - 0.5, max(epochs) + 0.5],
                     **(dict(dtick=1) if len(epochs) <= 16 else {}))
    return _layout(fig, "", height=400, margin=dict(l=10, r=10, t=40, b=10),
                   legend=dict(orientation="h", yanchor="top", y=-0.22, x=0))


def latent_map(points, labels, class_names: list[str], *, method: str, values=None, value_name: str = "",
               highlight=None, highlight_name: str = "your image") -> "go.Figure":
    """A test set's codes in 2-D, one colour per class (or a colour scale of `values`, e.g. polyp area,
    when there is one class), each point's index as its customdata so a selection names an image.
    `method` names the projection on the chart ("the 2-D latent itself" or "PCA of the 6-D codes");
    `highlight` (2,) is drawn as a star."""
    import numpy as np

    points, labels = np.asarray(points), np.asarray(labels)
    fig = go.Figure()
    index = np.arange(len(points))
    if values is not None and len(class_names) == 1:
        fig.add_trace(go.Scatter(
            x=points[:, 0], y=points[:, 1], mode="markers", customdata=index, name=class_names[0],
            marker=dict(size=8, color=values, colorscale="Viridis", showscale=True,
                        colorbar=dict(title=dict(text=value_name, side="right"), thickness=15)),
            hovertemplate=f"image %{{customdata}}<br>{value_name} %{{marker.color:.3f}}<extra></extra>"))
    else:
        for k, name in enumerate(class_names):
            keep = labels == k
            fig.add_trace(go.Scatter(
                x=points[keep, 0], y=points[keep, 1], mode="markers", customdata=index[keep], name=name,
                marker=dict(size=8, opacity=0.85, color=CLASS_COLOURS[k % len(CLASS_COLOURS)], line=OUTLINE),
                hovertemplate=f"{name}, image %{{customdata}}<extra></extra>"))
    if highlight is not None:
        fig.add_trace(go.Scatter(x=[highlight[0]], y=[highlight[1]], mode="markers", name=highlight_name,
                                 marker=dict(symbol="star", size=22, color=CHOSEN, line=dict(width=1.5, color="black")),
                                 hoverinfo="skip"))
    two_d = method.startswith("the 2-D")
    # The legend below the plot, never over the colour bar. No dragmode: a figure's own "select" keeps Plotly's
    # clicks from becoming a selection; Streamlit pans by default and offers the box in the chart's tool bar.
    return _layout(fig, f"The encoded test set: {method}", height=520,
                   xaxis=dict(title="z1" if two_d else "PC 1"), yaxis=dict(title="z2" if two_d else "PC 2"),
                   legend=dict(orientation="h", yanchor="top", y=-0.15, x=0, font=dict(size=14)))
