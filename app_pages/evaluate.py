"""Evaluate: what evaluate.py measured for a shipped model on held-out data, figures and model card."""
import pandas as pd
import streamlit as st

import charts
import inference
import results
import ui
from data import read_mask
from images import read_image

METRICS = {  # key in eval.json -> (label, what it means, for the (?) tooltip)
    "accuracy": ("Accuracy", "Share of all images classified correctly; misleading when one class is far more common."),
    "sensitivity": ("Sensitivity", "Share of the positive cases (e.g. pneumonia) that the model finds: the recall."),
    "specificity": ("Specificity", "Share of the negative cases (e.g. normal) that the model correctly leaves alone."),
    "precision": ("Precision", "Of the images the model calls positive, the share that really are."),
    "f1": ("F1", "Harmonic mean of precision and sensitivity, 0 to 1."),
}
CONFUSION_HELP = ("Rows: the true class; columns: what the model said. The percentage (and the colour) is the "
                  "share of the row: the diagonal holds each class's recall.")
TRANSFER_LESSON = (
    "Features learned from ImageNet photos are a start, not an answer: compare the rows. They help more with a few "
    "hundred labelled images (COVID CT) than with thousands (chest X-rays); frozen features mostly trail fine-tuned "
    "ones, because X-rays and CT slices are not photos; and no starting point fixes a shift between where the "
    "training and the test images come from.")
ECE_HELP = "How far the stated probabilities are from the observed frequencies (0 is perfect)."

ui.intro("Evaluate",
         "How well does each shipped model do on images it never saw during training? Every number here "
         "comes from `evaluate.py`, with the data split and the command that produced it.")

names = ui.evaluated_models()
if not names:
    st.info("No shipped model has been evaluated yet. Run, for example:\n\n"
            "`python evaluate.py cxr-pneumonia --data-root ../shared/data --split test`\n\n"
            "which writes `weights/cxr-pneumonia/eval.json`; then reload this page.")
    st.stop()

with ui.settings():
    name = st.selectbox("Model", names, format_func=ui.model_title)
evaluation = ui.read_eval(name)
classes = evaluation.get("class_names")

counts = f" ({', '.join(f'{n} {c}' for c, n in zip(classes, evaluation['class_counts']))})" if classes else ""
st.markdown(f"**Data:** `{evaluation.get('dataset', '?')}`, {evaluation.get('split', '?')} split, "
            f"{evaluation['n']} images{counts}.  \n**Protocol:** {evaluation.get('protocol', 'not recorded')}")
st.code(evaluation.get("command", "evaluate.py (command not recorded)"), language="bash")

if "at_threshold" in evaluation:  # two classes: threshold-free figures, then each of the two thresholds
    st.subheader("Headline figures")
    if classes:  # the CT model's second class is CT_NonCOVID: the reader must know which class is "positive"
        st.caption(f"Sensitivity, specificity, precision and the curves take **{classes[1]}**, the model's second "
                   "class, as the positive one: the decision threshold is on its probability.")
    auc, ap, ece = st.columns(3)
    auc.metric("ROC-AUC", f"{evaluation['roc_auc']:.3f}", border=True,
               help="Chance that a random positive image scores above a random negative one; any threshold.")
    ap.metric("Average precision", f"{evaluation['average_precision']:.3f}", border=True,
              help="Area under the precision-recall curve; any threshold.")
    ece.metric("Calibration error (ECE)", f"{evaluation['ece']:.3f}", border=True, help=ECE_HELP)
    for key in ("at_threshold", "at_0.5"):
        report = evaluation[key]
        st.markdown(f"At threshold **{report['threshold']:.2f}**"
                    + (", chosen on validation data (the one the app uses):" if key == "at_threshold" else
                       ", the naive default, for comparison:"))
        for column, (metric, (label, meaning)) in zip(st.columns(len(METRICS)), METRICS.items()):
            value = f"{report[metric]:.3f}" if metric == "f1" else f"{report[metric]:.1%}"
            column.metric(label, value, help=meaning, border=True)

    st.subheader("Confusion matrices")
    st.caption(CONFUSION_HELP)
    left, right = st.columns(2)
    for column, key, note in ((left, "at_threshold", "chosen on val"), (right, "at_0.5", "naive")):
        title = f"Threshold {evaluation[key]['threshold']:.2f} ({note})"
        column.plotly_chart(charts.confusion_matrix(evaluation[key], classes, title), key=f"cm-{key}")

    st.subheader("Curves")
    st.caption("Each curve sweeps every threshold; the dots are the two thresholds above.")
    left, right = st.columns(2)
    left.plotly_chart(charts.roc(evaluation), key="roc")
    right.plotly_chart(charts.precision_recall(evaluation), key="pr")

    comparison = ui.transfer_comparison(name)
    if comparison:  # the same test split, from scratch, on frozen ImageNet features and fine-tuned
        st.subheader("What ImageNet pretraining buys")
        st.write(TRANSFER_LESSON)
        number = st.column_config.NumberColumn
        st.dataframe(pd.DataFrame([{**r, "parameters": r["parameters"] / 1e6, "training": f"{r['train_seconds'] / 60:.0f} min"
                                    if r["train_seconds"] is not None else "not recorded"} for r in comparison["rows"]]),
                     hide_index=True, column_order=["label", "accuracy", "f1", "roc_auc", "training", "parameters"],
                     column_config={"label": "model", "accuracy": number("accuracy", format="%.3f"),
                                    "f1": number("F1", format="%.3f"), "roc_auc": number("ROC-AUC", format="%.3f"),
                                    "training": "training (one thread of a busy 2-core CPU)",
                                    "parameters": number("parameters (M)", format="%.2f")})
        st.caption(f"All on the same {comparison['split']} images of `{comparison['dataset']}`, read as `evaluate.py` "
                   "reads them; accuracy and F1 at each model's own threshold, chosen on validation. Written by "
                   "`scripts/compare_transfer.py`.")
        left, _ = st.columns([3, 1])
        left.plotly_chart(charts.roc_overlay(comparison["rows"], "ROC curves on the same test images"), key="roc-transfer")

elif classes:  # more than two classes, e.g. the modality recognizer
    st.subheader("Headline figures")
    accuracy, ece = st.columns(2)
    accuracy.metric("Accuracy", f"{evaluation['accuracy']:.1%}", border=True, help=METRICS["accuracy"][1])
    ece.metric("Calibration error (ECE)", f"{evaluation['ece']:.3f}", border=True, help=ECE_HELP)
    if "source" in evaluation:  # a domain-adaptation model: the figures above are on the target domain
        source = evaluation["source"]
        st.markdown(f"These figures are on the target domain; on the source domain (`{source['dataset']}`, "
                    f"{source['n']} images) the accuracy is **{source['accuracy']:.1%}**. The Domain adaptation "
                    "page shows both side by side.")
    if "recall" in evaluation:
        st.markdown("Recall per class: the share of each class's images given that class.")
        for column, (label, recall) in zip(st.columns(len(evaluation["recall"])), evaluation["recall"].items()):
            column.metric(label, f"{recall:.1%}", border=True)
    if "routing" in evaluation:
        routing = evaluation["routing"]
        st.markdown(f"As the app uses it (an image goes to a model only when the recognizer gives its modality at "
                    f"least {routing['route_confidence']:.0%}), of {routing['n_medical']} medical images and "
                    f"{routing['n_out_of_domain']} others:")
        shown = (("medical_routed_correctly", "Routed to the right model"), ("medical_misrouted", "Misrouted"),
                 ("medical_refused", "Medical, refused"), ("out_of_domain_refused", "Others, refused"))
        for column, (key, label) in zip(st.columns(len(shown)), shown):
            column.metric(label, f"{routing[key]:.1%}", border=True)
    if "confusion_matrix" in evaluation:
        st.caption(CONFUSION_HELP)
        left, _ = st.columns([3, 1])
        left.plotly_chart(charts.confusion_matrix(evaluation, classes, "Confusion matrix"), key="cm")

elif "dice" in evaluation:  # a segmenter: overlap between predicted and drawn masks
    st.subheader("Headline figures")
    columns = st.columns(4)
    shown = (("dice", "Mean Dice"), ("dice_median", "Median Dice"), ("iou", "Mean IoU"))
    for column, (key, label) in zip(columns, shown):
        column.metric(label, f"{evaluation[key]:.3f}", border=True,
                      help="Overlap of the predicted and the drawn mask: 1 is a perfect match, 0 no overlap.")
    if "found" in evaluation:
        found = evaluation["found"]
        columns[3].metric("Images with a polyp found", f"{found['share_found']:.1%}", border=True,
                          help=f"Predicted mask covering at least {found['area_threshold']:.1%} of the frame.")
    left, right = st.columns(2)
    if "per_image_dice" in evaluation:
        left.plotly_chart(charts.dice_histogram(evaluation), key="dice")
    if evaluation.get("worst"):
        right.markdown("**The worst images**: the lowest Dice, where to look first for what the model gets wrong.")
        number = st.column_config.NumberColumn
        right.dataframe(pd.DataFrame(evaluation["worst"]), hide_index=True,
                        column_config={"id": "image", "dice": number("Dice", format="%.3f"),
                                       "iou": number("IoU", format="%.3f")})
        # With the data set at hand (MEDLAB_DATA or ../shared/data) and the shipped segmenter: the images too.
        root = ui.data_root()
        folder = root / evaluation.get("dataset", "?") if root else None
        cases = [c for c in evaluation["worst"] if folder and (folder / "images" / f"{c['id']}.jpg").is_file()]
        if cases and name == inference.SEGMENTERS.get("endoscopy") and \
                st.toggle(f"Show them with their masks (from `{folder}`)", key="worst-images"):
            st.caption("Green, outlined in yellow: the model's mask now; outlined in cyan: the mask drawn by hand.")
            columns = st.columns(3)
            for i, case in enumerate(cases):
                image = read_image(folder / "images" / f"{case['id']}.jpg")
                predicted = ui.segment(image, f"{name}-{case['id']}").mask
                truth = read_mask(folder / "masks" / f"{case['id']}.png")
                columns[i % 3].image(ui.mask_overlay(image.pixels, predicted, 0.35, truth=truth), width="stretch",
                                     caption=f"{case['id']}: Dice {case['dice']:.3f} when evaluated")

elif "sets" in evaluation:  # super-resolution: bicubic and the model on each test set
    st.subheader("Headline figures")
    for column, (set_name, s) in zip(st.columns(len(evaluation["sets"])), evaluation["sets"].items()):
        column.metric(f"{set_name}: PSNR-Y", f"{s['model']['psnr_y']:.2f} dB", f"{s['gain_psnr_y']:+.2f} dB vs bicubic",
                      border=True, help="On the Y channel with a 4-pixel border removed, the literature's protocol; "
                                        f"the model as it answers by default ({results.sr_gain(s)}).")
    rows = [{"set": set_name, "method": label, **s[who]} for set_name, s in evaluation["sets"].items()
            for who, label in [*results.sr_methods(name, s), ("original", "HR original")]]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if "degradations" in evaluation:
        ui.degradation_table(evaluation["degradations"])

elif "elbo" in evaluation:  # a VAE: how well it redraws held-out images, its bound, and its samples
    st.subheader("Headline figures")
    cells = [("Reconstruction PSNR", f"{evaluation['psnr']:.2f} dB", "Decoded from the encoder's mean; higher is closer."),
             ("Reconstruction SSIM", f"{evaluation['ssim']:.3f}", "Structural similarity, 1 is identical."),
             ("ELBO", f"{evaluation['elbo']:.1f} nats", f"Per image; likelihood: {evaluation['likelihood']}. Higher is better.")]
    if "gan_test" in evaluation:
        g = evaluation["gan_test"]
        cells.append(("GAN-test", f"{g['overall']:.1%}", f"How often the independent judge {g['judge']} reads a sample "
                                                         f"as the class it was drawn for ({g['samples']} samples)."))
    for column, (label, value, help_text) in zip(st.columns(len(cells)), cells):
        column.metric(label, value, border=True, help=help_text)
    if "gan_test" in evaluation:
        st.caption(f"The judge's own accuracy on the real test images: {g['judge_accuracy_on_real']:.1%}. Per class: "
                   + ", ".join(f"{k} {v:.1%}" for k, v in g["per_class"].items()) + ".")
elif "judge" in evaluation:  # a generator, judged by an independent classifier (the Generate page shows it too)
    import generators

    st.subheader("Headline figures")
    if "gan_test" in evaluation:
        st.metric("GAN-test", f"{evaluation['gan_test']['overall']:.1%}", border=True,
                  help="Share of generated images the independent judge reads as the class they were made for.")
    st.dataframe(pd.DataFrame(generators.measured_rows(evaluation)), hide_index=True,
                 column_config=generators.measured_columns())  # percentages, as on the Generate page
    st.markdown(generators.MEANINGS)

else:
    st.info("This page does not know how to draw this kind of evaluation yet; here it is as recorded.")
    st.json(evaluation, expanded=False)

if "reliability" in evaluation:
    st.subheader("Calibration")
    st.caption("Images are grouped by how confident the model was; if its probabilities are honest, each bar "
               "reaches the diagonal (of the images it gave 80%, 80% are right).")
    left, _ = st.columns(2)  # half width: a square plot reads better than a letterbox
    left.plotly_chart(charts.reliability(evaluation), key="reliability")

history = ui.training_history(name)
if history:  # train.py's row per epoch, beside the weights; weights trained before it wrote one have none
    st.subheader("Training")
    st.caption(history.caption)
    st.plotly_chart(charts.training_history(history.rows, history.score, history.kept), key="history")

with st.expander("Model card", icon=":material/description:"):
    st.markdown(ui.model_card(name))
ui.disclaimer()
