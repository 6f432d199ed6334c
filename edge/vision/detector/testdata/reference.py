#!/usr/bin/env python3
"""Independent reference detections for the detector tests.

Follows ../shared/data/models/MODEL_IO.md step by step with OpenCV only
(cv2.imread, cv2.resize, cv2.dnn.readNetFromONNX, numpy decoding, cv2.dnn.NMSBoxes) --
no code shared with the TypeScript detector. Usage:
  /usr/bin/python3 reference.py <data dir> <model> <image> [<image> ...]    (model: yolox_nano_416 | nanodet_m_320 | nanodet_m_416)
An image is a name in <data dir>/images or a path (absolute, or with a slash). Prints one line per
detection: class score x1 y1 x2 y2 (original pixels); with several images, each image's lines
follow a line "# <image>".
"""
import os
import sys
import cv2
import numpy as np

data, model, images = sys.argv[1], sys.argv[2], sys.argv[3:]
names = [l.strip() for l in open(f"{data}/models/coco_classes.txt") if l.strip()]
net = cv2.dnn.readNetFromONNX(f"{data}/models/{model}.onnx")


def detect(image):
  img = cv2.imread(image if os.sep in image else f"{data}/images/{image}")  # BGR
  H, W = img.shape[:2]
  out = []

  if model.startswith("yolox"):
      S = 416
      r = min(S / H, S / W)
      res = cv2.resize(img, (int(W * r), int(H * r)), interpolation=cv2.INTER_LINEAR)
      canvas = np.full((S, S, 3), 114, dtype=np.uint8)
      canvas[: res.shape[0], : res.shape[1]] = res
      blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0..255, no mean/std
      net.setInput(blob, "images")
      pred = net.forward()[0]  # [3549, 85]
      grids, strides = [], []
      for s in (8, 16, 32):
          n = S // s
          yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
          grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
          strides.append(np.full((n * n, 1), s))
      grids = np.concatenate(grids); strides = np.concatenate(strides)
      cxcy = (pred[:, :2] + grids) * strides
      wh = np.exp(pred[:, 2:4]) * strides
      scores = pred[:, 4:5] * pred[:, 5:]
      boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1) / r
      cls = scores.argmax(1); sc = scores.max(1)
      keep = sc > 0.3
      b, s_, c = boxes[keep], sc[keep], cls[keep]
      idx = cv2.dnn.NMSBoxes([[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in b], s_.tolist(), 0.3, 0.45)
      for i in np.array(idx).flatten():
          x1, y1, x2, y2 = b[i]
          out.append((names[c[i]], s_[i], max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)))
  else:
      S = int(model.split("_")[-1])
      if H > W:
          nh, nw = S, int(S / (H / W))
      else:
          nh, nw = int(S * (H / W)), S
      res = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
      top, left = int((S - nh) * 0.5), int((S - nw) * 0.5)
      res = cv2.copyMakeBorder(res, top, S - nh - top, left, S - nw - left, cv2.BORDER_CONSTANT, value=0)
      x = (res.astype(np.float32) - np.array([103.53, 116.28, 123.675], np.float32)) / np.array([57.375, 57.12, 58.395], np.float32)
      net.setInput(x.transpose(2, 0, 1)[None].astype(np.float32), "input.1")
      names_out = [f"cls_pred_stride_{s}" for s in (8, 16, 32)] + [f"dis_pred_stride_{s}" for s in (8, 16, 32)]
      outs = dict(zip(names_out, net.forward(names_out)))
      all_b, all_s = [], []
      for s in (8, 16, 32):
          cl = outs[f"cls_pred_stride_{s}"].reshape(-1, 80)
          d = outs[f"dis_pred_stride_{s}"].reshape(-1, 8)
          e = np.exp(d); p = (e / e.sum(1, keepdims=True)) @ np.arange(8)
          p = p.reshape(-1, 4) * s
          n = S // s
          yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
          cx = xv.flatten() * s + 0.5 * (s - 1); cy = yv.flatten() * s + 0.5 * (s - 1)
          bx = np.stack([cx - p[:, 0], cy - p[:, 1], cx + p[:, 2], cy + p[:, 3]], 1).clip(0, S)
          all_b.append(bx); all_s.append(cl)  # top-1000 per level is a no-op here (N <= 2704 but only 1000 kept):
          order = cl.max(1).argsort()[::-1][:1000]
          all_b[-1] = bx[order]; all_s[-1] = cl[order]
      b = np.concatenate(all_b); sc = np.concatenate(all_s)
      c = sc.argmax(1); s_ = sc.max(1)
      idx = cv2.dnn.NMSBoxes([[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in b], s_.tolist(), 0.35, 0.6)
      for i in np.array(idx).flatten():
          x1, y1, x2, y2 = b[i]
          out.append((names[c[i]], s_[i], max((x1 - left) * W / nw, 0), max((y1 - top) * H / nh, 0), min((x2 - left) * W / nw, W), min((y2 - top) * H / nh, H)))
  return out


for image in images:
  if len(images) > 1:
    print(f"# {image}")
  for n, s, x1, y1, x2, y2 in sorted(detect(image), key=lambda t: -t[1]):
    print(f"{n} {s:.3f} {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}")
