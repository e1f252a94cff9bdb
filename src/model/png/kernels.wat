;; The PNG path's hot loops, as WebAssembly with 128-bit SIMD (Node 20 has it
;; on every platform it runs on). Assembled by `npm run build:wasm` into
;; kernels.wasm, which is committed; kernels.ts loads it and lays out memory.
;; Every kernel reproduces a JS reference in decode.ts / resample.ts exactly
;; (the tests compare them on random images), so tensors stay bit-identical to
;; sharp's.
;;
;; Memory is owned by kernels.ts: callers pass byte offsets. Kernels that work
;; in 16-byte blocks read and write up to 15 bytes past the end of a line;
;; kernels.ts leaves that slack after every buffer.
(module
  (memory (export "memory") 1)

  ;; libvips' 8-bit lanczos reduce along one axis (see resample.ts), as it
  ;; runs on lines of samples: output line o, sample j is
  ;;   clip8((2048 + sum_t w[t] * src[at[t] * srcStride + j]) >> 12)
  ;; for t in starts[o] .. starts[o + 1], for j in 0 .. lineLen (rounded up to
  ;; 32: the extra samples are garbage the caller ignores, and a line's extra
  ;; stores land on the next line, which is written after it, or on slack).
  ;; Taps go in pairs (plans pad every line to an even count, at least 2):
  ;; the two lines' bytes are interleaved, widened to i16 and multiplied by
  ;; the pair's weights with i32x4.dot_i16x8_s (one pmaddwd on x64), which
  ;; sums both taps of four samples into i32 lanes. The sum narrows with
  ;; signed then unsigned saturation, which is exactly the clip to 0..255.
  ;; |sum| < 255 * 2 * 4096, far from overflow. starts and ats are i32
  ;; arrays; wpairs holds one i32 per tap pair, w[t] in its low half and
  ;; w[t + 1] in its high half (kernels.ts packs them when it copies a plan in).
  (func (export "reduce8")
    (param $src i32) (param $srcStride i32) (param $lineLen i32)
    (param $starts i32) (param $ats i32) (param $wpairs i32)
    (param $outLines i32) (param $dst i32) (param $dstStride i32)
    (local $o i32) (local $t i32) (local $t0 i32) (local $t1 i32)
    (local $j i32) (local $p i32) (local $q i32) (local $pb i32)
    (local $wv v128) (local $x v128) (local $y v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (block $done
      (loop $lines
        (br_if $done (i32.ge_u (local.get $o) (local.get $outLines)))
        (local.set $t0 (i32.load (i32.add (local.get $starts) (i32.shl (local.get $o) (i32.const 2)))))
        (local.set $t1 (i32.load offset=4 (i32.add (local.get $starts) (i32.shl (local.get $o) (i32.const 2)))))
        (local.set $q (i32.add (local.get $dst) (i32.mul (local.get $o) (local.get $dstStride))))
        (local.set $j (i32.const 0))
        ;; 32 samples per sweep of the taps, so a tap pair's offsets and
        ;; weights are loaded once per 64 multiply-adds.
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_s (local.get $j) (local.get $lineLen)))
            (local.set $a0 (v128.const i32x4 2048 2048 2048 2048))
            (local.set $a1 (local.get $a0)) (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
            (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0)) (local.set $a6 (local.get $a0))
            (local.set $a7 (local.get $a0))
            (local.set $t (local.get $t0))
            (loop $taps
              (local.set $p (i32.add (i32.add (local.get $src) (local.get $j))
                (i32.mul (i32.load (i32.add (local.get $ats) (i32.shl (local.get $t) (i32.const 2)))) (local.get $srcStride))))
              (local.set $pb (i32.add (i32.add (local.get $src) (local.get $j))
                (i32.mul (i32.load offset=4 (i32.add (local.get $ats) (i32.shl (local.get $t) (i32.const 2)))) (local.get $srcStride))))
              (local.set $wv (i32x4.splat (i32.load (i32.add (local.get $wpairs) (i32.shl (local.get $t) (i32.const 1))))))
              ;; samples 0..15
              (local.set $x (v128.load (local.get $p)))
              (local.set $y (v128.load (local.get $pb)))
              (local.set $lo (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $x) (local.get $y)))
              (local.set $hi (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $x) (local.get $y)))
              (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $lo)) (local.get $wv))))
              (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $lo)) (local.get $wv))))
              (local.set $a2 (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $hi)) (local.get $wv))))
              (local.set $a3 (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $hi)) (local.get $wv))))
              ;; samples 16..31
              (local.set $x (v128.load offset=16 (local.get $p)))
              (local.set $y (v128.load offset=16 (local.get $pb)))
              (local.set $lo (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $x) (local.get $y)))
              (local.set $hi (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $x) (local.get $y)))
              (local.set $a4 (i32x4.add (local.get $a4) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $lo)) (local.get $wv))))
              (local.set $a5 (i32x4.add (local.get $a5) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $lo)) (local.get $wv))))
              (local.set $a6 (i32x4.add (local.get $a6) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $hi)) (local.get $wv))))
              (local.set $a7 (i32x4.add (local.get $a7) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $hi)) (local.get $wv))))
              (local.set $t (i32.add (local.get $t) (i32.const 2)))
              (br_if $taps (i32.lt_u (local.get $t) (local.get $t1))))
            (local.set $p (i32.add (local.get $q) (local.get $j)))
            (v128.store (local.get $p)
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 12)) (i32x4.shr_s (local.get $a1) (i32.const 12)))
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 12)) (i32x4.shr_s (local.get $a3) (i32.const 12)))))
            (v128.store offset=16 (local.get $p)
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a4) (i32.const 12)) (i32x4.shr_s (local.get $a5) (i32.const 12)))
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a6) (i32.const 12)) (i32x4.shr_s (local.get $a7) (i32.const 12)))))
            (local.set $j (i32.add (local.get $j) (i32.const 32)))
            (br $cols)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $lines))))

  ;; resample.ts's 8-bit flatten onto white, before the reduce:
  ;; trunc((v * a + 255 * (255 - a)) / 255) for each colour of each pixel of
  ;; `ch` bytes (2: grey + alpha, 4: RGBA), alpha dropped. The sum is at
  ;; most 65025, so it lives in u16 lanes (i16x8.mul wraps, but the product
  ;; never exceeds 65025), and trunc(x / 255) = (x + 1 + (x >> 8)) >> 8 for
  ;; every such x (the tests flatten every value with every alpha). 16 input
  ;; bytes a step; the last step reads and writes up to 15 bytes past the
  ;; pixels.
  (func (export "flatten8") (param $src i32) (param $pixels i32) (param $ch i32) (param $dst i32)
    (local $end i32) (local $x v128) (local $al v128) (local $res v128)
    (local.set $end (i32.add (local.get $src) (i32.mul (local.get $pixels) (local.get $ch))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $x (v128.load (local.get $src)))
      (if (i32.eq (local.get $ch) (i32.const 4))
        (then (local.set $al (i8x16.shuffle 3 3 3 3 7 7 7 7 11 11 11 11 15 15 15 15 (local.get $x) (local.get $x))))
        (else (local.set $al (i8x16.shuffle 1 1 3 3 5 5 7 7 9 9 11 11 13 13 15 15 (local.get $x) (local.get $x)))))
      (local.set $res (i8x16.narrow_i16x8_u
        (call $over_white (i16x8.extend_low_i8x16_u (local.get $x)) (i16x8.extend_low_i8x16_u (local.get $al)))
        (call $over_white (i16x8.extend_high_i8x16_u (local.get $x)) (i16x8.extend_high_i8x16_u (local.get $al)))))
      (if (i32.eq (local.get $ch) (i32.const 4))
        (then
          (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 4 5 6 8 9 10 12 13 14 0 0 0 0 (local.get $res) (local.get $res)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 12))))
        (else
          (v128.store (local.get $dst) (i8x16.shuffle 0 2 4 6 8 10 12 14 0 0 0 0 0 0 0 0 (local.get $res) (local.get $res)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 8)))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l))))

  ;; trunc((v * a + 255 * (255 - a)) / 255) in u16 lanes.
  (func $over_white (param $v v128) (param $a v128) (result v128)
    (local $x v128)
    (local.set $x (i16x8.add (i16x8.mul (local.get $v) (local.get $a))
      (i16x8.mul (i16x8.sub (v128.const i16x8 255 255 255 255 255 255 255 255) (local.get $a))
                 (v128.const i16x8 255 255 255 255 255 255 255 255))))
    (i16x8.shr_u
      (i16x8.add (i16x8.add (local.get $x) (v128.const i16x8 1 1 1 1 1 1 1 1)) (i16x8.shr_u (local.get $x) (i32.const 8)))
      (i32.const 8)))

  ;; dst[l * dstStride + e * ch + k] = src[e * srcStride + l * ch + k] for
  ;; l < lines, e < elems, k < ch (1 <= ch <= 4): turns columns of ch-byte
  ;; pixels into lines, so the horizontal reduce runs as reduce8 does on rows.
  ;; Pixels of 2-4 bytes move as one 4-byte load and store: the bytes past the
  ;; pixel land on the next pixel of the same line (or the next line's first),
  ;; which is written after, or on slack; the load reads up to 3 bytes past
  ;; the last pixel.
  (func (export "transpose")
    (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32)
    (param $lines i32) (param $elems i32) (param $ch i32)
    (local $l i32) (local $s i32) (local $d i32) (local $end i32)
    (block $done
      (loop $lines_loop
        (br_if $done (i32.ge_u (local.get $l) (local.get $lines)))
        (local.set $s (i32.add (local.get $src) (i32.mul (local.get $l) (local.get $ch))))
        (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $l) (local.get $dstStride))))
        (local.set $end (i32.add (local.get $d) (i32.mul (local.get $elems) (local.get $ch))))
        (if (i32.eq (local.get $ch) (i32.const 1))
          (then
            (block $b1 (loop $e1
              (br_if $b1 (i32.ge_u (local.get $d) (local.get $end)))
              (i32.store8 (local.get $d) (i32.load8_u (local.get $s)))
              (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
              (local.set $d (i32.add (local.get $d) (i32.const 1)))
              (br $e1))))
          (else
            (block $b4 (loop $e4
              (br_if $b4 (i32.ge_u (local.get $d) (local.get $end)))
              (i32.store (local.get $d) (i32.load (local.get $s)))
              (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
              (local.set $d (i32.add (local.get $d) (local.get $ch)))
              (br $e4)))))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $lines_loop))))

  ;; One plane of the model's tensor from 8-bit samples: dst[i] =
  ;; lut[src[i * step]] as f32, for i < n. The table (image.ts computes it in
  ;; doubles, then rounds to f32) is what keeps this equal to the JS path; a
  ;; load per sample is all there is to it.
  (func (export "normalize")
    (param $src i32) (param $step i32) (param $n i32) (param $lut i32) (param $dst i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst)
        (f32.load (i32.add (local.get $lut) (i32.shl (i32.load8_u (local.get $src)) (i32.const 2)))))
      (local.set $src (i32.add (local.get $src) (local.get $step)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (br $l))))

  ;; PNG's filters undone in place, as decode.ts's unfilter: `rows` rows of
  ;; `stride` bytes from buf, each a filter-type byte and stride - 1 bytes,
  ;; `bpp` bytes per complete pixel (1..8). Returns -1, or the index of the
  ;; first row whose filter type is not 0-4 (rows before it are undone).
  ;; Byte arithmetic wraps modulo 256, which is the filters' arithmetic.
  (func (export "unfilter")
    (param $buf i32) (param $rows i32) (param $stride i32) (param $bpp i32) (result i32)
    (local $y i32) (local $row i32) (local $end i32) (local $lead i32) (local $type i32)
    (local.set $lead (select (local.get $bpp) (i32.sub (local.get $stride) (i32.const 1))
      (i32.lt_u (local.get $bpp) (i32.sub (local.get $stride) (i32.const 1)))))
    (block $done
      (loop $rows_loop
        (br_if $done (i32.ge_u (local.get $y) (local.get $rows)))
        (block $next
        (local.set $row (i32.add (i32.add (local.get $buf) (i32.mul (local.get $y) (local.get $stride))) (i32.const 1)))
        (local.set $end (i32.add (local.get $row) (i32.sub (local.get $stride) (i32.const 1))))
        (local.set $type (i32.load8_u (i32.sub (local.get $row) (i32.const 1))))
        (if (i32.gt_u (local.get $type) (i32.const 4)) (then (return (local.get $y))))
        (if (i32.eqz (local.get $y))
          (then
            ;; No row above: Up adds 0, Paeth predicts a (Sub), Average a >> 1.
            (if (i32.or (i32.eq (local.get $type) (i32.const 1)) (i32.eq (local.get $type) (i32.const 4)))
              (then (call $sub (i32.add (local.get $row) (local.get $lead)) (local.get $end) (local.get $bpp))))
            (if (i32.eq (local.get $type) (i32.const 3))
              (then (call $avg_first (i32.add (local.get $row) (local.get $lead)) (local.get $end) (local.get $bpp)))))
          (else
            (if (i32.and
                  (i32.and (i32.ge_u (local.get $bpp) (i32.const 3)) (i32.le_u (local.get $bpp) (i32.const 4)))
                  (i32.eqz (i32.rem_u (i32.sub (local.get $stride) (i32.const 1)) (local.get $bpp))))
              (then
                (if (i32.eq (local.get $type) (i32.const 1))
                  (then (call $sub_px (local.get $row) (local.get $end) (local.get $bpp))))
                (if (i32.eq (local.get $type) (i32.const 2))
                  (then (call $up (local.get $row) (local.get $end) (local.get $stride))))
                (if (i32.eq (local.get $type) (i32.const 3))
                  (then (call $avg_px (local.get $row) (local.get $end) (local.get $stride) (local.get $bpp))))
                (if (i32.eq (local.get $type) (i32.const 4))
                  (then (call $paeth_px (local.get $row) (local.get $end) (local.get $stride) (local.get $bpp))))
                (br $next)))
            (if (i32.eq (local.get $type) (i32.const 1))
              (then (call $sub (i32.add (local.get $row) (local.get $lead)) (local.get $end) (local.get $bpp))))
            (if (i32.eq (local.get $type) (i32.const 2))
              (then (call $up (local.get $row) (local.get $end) (local.get $stride))))
            (if (i32.eq (local.get $type) (i32.const 3))
              (then (call $avg (local.get $row) (local.get $end) (local.get $lead) (local.get $bpp) (local.get $stride))))
            (if (i32.eq (local.get $type) (i32.const 4))
              (then (call $paeth (local.get $row) (local.get $end) (local.get $lead) (local.get $bpp) (local.get $stride))))))
        ) ;; $next
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows_loop)))
    (i32.const -1))

;; Sub, Average and Paeth on rows of whole 3- or 4-byte pixels (8-bit RGB,
  ;; RGBA; 16-bit grey + alpha), a pixel per step in the low lanes of a
  ;; vector: each pixel depends on the one before, so the lanes are its
  ;; bytes. A step loads 4 bytes at the pixel and stores the pixel's own
  ;; bytes only (a 4-byte store over the next pixel would also stall the next
  ;; load on store forwarding); for 3-byte pixels the 4th lane computes
  ;; garbage that no other lane reads and nothing stores. Rows after the
  ;; first only (they read the row above).
  (func $sub_px (param $i i32) (param $end i32) (param $bpp i32)
    (local $a v128) (local $out v128) (local $v i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $out (i8x16.add (v128.load32_zero (local.get $i)) (local.get $a)))
      (local.set $v (i32x4.extract_lane 0 (local.get $out)))
      (if (i32.eq (local.get $bpp) (i32.const 4))
        (then (i32.store (local.get $i) (local.get $v)))
        (else
          (i32.store16 (local.get $i) (local.get $v))
          (i32.store8 offset=2 (local.get $i) (i32.shr_u (local.get $v) (i32.const 16)))))
      (local.set $a (local.get $out))
      (local.set $i (i32.add (local.get $i) (local.get $bpp)))
      (br $l))))

  ;; floor((a + b) / 2) per byte is avgr_u (which rounds up) less the odd bit.
  (func $avg_px (param $i i32) (param $end i32) (param $stride i32) (param $bpp i32)
    (local $a v128) (local $b v128) (local $out v128) (local $v i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $b (v128.load32_zero (i32.sub (local.get $i) (local.get $stride))))
      (local.set $out (i8x16.add (v128.load32_zero (local.get $i))
        (i8x16.sub (i8x16.avgr_u (local.get $a) (local.get $b))
          (v128.and (v128.xor (local.get $a) (local.get $b)) (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1)))))
      (local.set $v (i32x4.extract_lane 0 (local.get $out)))
      (if (i32.eq (local.get $bpp) (i32.const 4))
        (then (i32.store (local.get $i) (local.get $v)))
        (else
          (i32.store16 (local.get $i) (local.get $v))
          (i32.store8 offset=2 (local.get $i) (i32.shr_u (local.get $v) (i32.const 16)))))
      (local.set $a (local.get $out))
      (local.set $i (i32.add (local.get $i) (local.get $bpp)))
      (br $l))))

  ;; Paeth in i16 lanes (a + b - 2c needs them). The first pixel needs no
  ;; case of its own: with a = c = 0 the predictor is b, as PNG says.
  (func $paeth_px (param $i i32) (param $end i32) (param $stride i32) (param $bpp i32)
    (local $a v128) (local $b v128) (local $c v128)
    (local $pa v128) (local $pb v128) (local $pc v128) (local $pred v128) (local $out v128) (local $v i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $b (i16x8.extend_low_i8x16_u (v128.load32_zero (i32.sub (local.get $i) (local.get $stride)))))
      (local.set $pa (i16x8.abs (i16x8.sub (local.get $b) (local.get $c))))
      (local.set $pb (i16x8.abs (i16x8.sub (local.get $a) (local.get $c))))
      (local.set $pc (i16x8.abs (i16x8.sub (i16x8.add (local.get $a) (local.get $b)) (i16x8.add (local.get $c) (local.get $c)))))
      (local.set $pred
        (v128.bitselect (local.get $a)
          (v128.bitselect (local.get $b) (local.get $c) (i16x8.le_s (local.get $pb) (local.get $pc)))
          (v128.and (i16x8.le_s (local.get $pa) (local.get $pb)) (i16x8.le_s (local.get $pa) (local.get $pc)))))
      (local.set $out (i8x16.add (v128.load32_zero (local.get $i)) (i8x16.narrow_i16x8_u (local.get $pred) (local.get $pred))))
      (local.set $v (i32x4.extract_lane 0 (local.get $out)))
      (if (i32.eq (local.get $bpp) (i32.const 4))
        (then (i32.store (local.get $i) (local.get $v)))
        (else
          (i32.store16 (local.get $i) (local.get $v))
          (i32.store8 offset=2 (local.get $i) (i32.shr_u (local.get $v) (i32.const 16)))))
      (local.set $a (i16x8.extend_low_i8x16_u (local.get $out)))
      (local.set $c (local.get $b))
      (local.set $i (i32.add (local.get $i) (local.get $bpp)))
      (br $l))))

  ;; buf[i] += buf[i - bpp] for i in from .. end.
  (func $sub (param $i i32) (param $end i32) (param $bpp i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i)) (i32.load8_u (i32.sub (local.get $i) (local.get $bpp)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))

  ;; buf[i] += buf[i - bpp] >> 1 for i in from .. end (Average on a first row).
  (func $avg_first (param $i i32) (param $end i32) (param $bpp i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i))
        (i32.shr_u (i32.load8_u (i32.sub (local.get $i) (local.get $bpp))) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))

  ;; buf[i] += buf[i - stride] for i in from .. end, 16 bytes at a time (the
  ;; bytes above are final already, so the lanes are independent).
  (func $up (param $i i32) (param $end i32) (param $stride i32)
    (block $done (loop $l
      (br_if $done (i32.gt_s (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
      (v128.store (local.get $i) (i8x16.add (v128.load (local.get $i)) (v128.load (i32.sub (local.get $i) (local.get $stride)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (block $done1 (loop $l1
      (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i)) (i32.load8_u (i32.sub (local.get $i) (local.get $stride)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))

  ;; Average: the first pixel's bytes add b >> 1, the rest (a + b) >> 1.
  (func $avg (param $i i32) (param $end i32) (param $lead i32) (param $bpp i32) (param $stride i32)
    (local $mid i32)
    (local.set $mid (i32.add (local.get $i) (local.get $lead)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $mid)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i))
        (i32.shr_u (i32.load8_u (i32.sub (local.get $i) (local.get $stride))) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (block $done1 (loop $l1
      (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i))
        (i32.shr_u (i32.add (i32.load8_u (i32.sub (local.get $i) (local.get $bpp)))
                            (i32.load8_u (i32.sub (local.get $i) (local.get $stride)))) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))

  ;; Paeth: the first pixel's bytes add b (a = c = 0 predicts b), the rest
  ;; the one of a, b, c nearest a + b - c, ties to a then b.
  (func $paeth (param $i i32) (param $end i32) (param $lead i32) (param $bpp i32) (param $stride i32)
    (local $mid i32) (local $a i32) (local $b i32) (local $c i32)
    (local $pa i32) (local $pb i32) (local $pc i32) (local $x i32)
    (local.set $mid (i32.add (local.get $i) (local.get $lead)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $mid)))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i)) (i32.load8_u (i32.sub (local.get $i) (local.get $stride)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (block $done1 (loop $l1
      (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $a (i32.load8_u (i32.sub (local.get $i) (local.get $bpp))))
      (local.set $b (i32.load8_u (i32.sub (local.get $i) (local.get $stride))))
      (local.set $c (i32.load8_u (i32.sub (i32.sub (local.get $i) (local.get $stride)) (local.get $bpp))))
      ;; |p - a| = |b - c|, |p - b| = |a - c|, |p - c| = |a + b - 2c|
      (local.set $x (i32.sub (local.get $b) (local.get $c)))
      (local.set $pa (select (local.get $x) (i32.sub (i32.const 0) (local.get $x)) (i32.ge_s (local.get $x) (i32.const 0))))
      (local.set $x (i32.sub (local.get $a) (local.get $c)))
      (local.set $pb (select (local.get $x) (i32.sub (i32.const 0) (local.get $x)) (i32.ge_s (local.get $x) (i32.const 0))))
      (local.set $x (i32.sub (i32.add (local.get $a) (local.get $b)) (i32.shl (local.get $c) (i32.const 1))))
      (local.set $pc (select (local.get $x) (i32.sub (i32.const 0) (local.get $x)) (i32.ge_s (local.get $x) (i32.const 0))))
      (i32.store8 (local.get $i) (i32.add (i32.load8_u (local.get $i))
        (select (local.get $a)
          (select (local.get $b) (local.get $c) (i32.le_u (local.get $pb) (local.get $pc)))
          (i32.and (i32.le_u (local.get $pa) (local.get $pb)) (i32.le_u (local.get $pa) (local.get $pc))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))
)
