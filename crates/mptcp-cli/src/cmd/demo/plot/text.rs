//! Text for the plot, laid out and rasterized with `ab_glyph` directly.
//!
//! plotters 0.3.7 draws `ab_glyph` text without each glyph's left side
//! bearing (letters are unevenly spaced: "MP TCP") and places the baseline
//! by a rule of thumb. [`TextBackend`] wraps a drawing backend and replaces
//! only its text: pen advances, kerning and bearings as the font says, every
//! glyph on the font's baseline, the anchors and rotations plotters asks for.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontStyle,
};

/// The embedded faces: DejaVu Sans, regular and bold.
#[derive(Clone)]
pub(crate) struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Fonts {
    /// Load the embedded fonts.
    pub fn load() -> Result<Fonts, String> {
        let load =
            |bytes| FontRef::try_from_slice(bytes).map_err(|e| format!("the embedded font: {e}"));
        Ok(Fonts {
            regular: load(dejavu::sans::regular())?,
            bold: load(dejavu::sans::bold())?,
        })
    }

    fn face(&self, style: FontStyle) -> &FontRef<'static> {
        match style {
            FontStyle::Bold => &self.bold,
            _ => &self.regular,
        }
    }
}

/// The pen positions of `text`: each glyph's origin on the baseline, and the
/// advance width of the whole line.
fn pen_positions<F: Font>(
    font: &ab_glyph::PxScaleFont<F>,
    text: &str,
) -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
    let mut x = 0f32;
    let mut prev = None;
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            x += font.kern(p, id);
        }
        out.push((id, x));
        x += font.h_advance(id);
        prev = Some(id);
    }
    (out, x)
}

/// A laid-out line: coverage at pixel offsets from the top left corner of
/// its box, and the box's size (advance width, ascent to descent).
struct Line {
    pixels: Vec<(i32, i32, f32)>,
    size: (i32, i32),
}

fn line_size<F: Font>(font: &ab_glyph::PxScaleFont<F>, width: f32) -> (i32, i32) {
    (
        width.ceil() as i32,
        (font.ascent() - font.descent()).ceil() as i32,
    )
}

fn lay_out(face: &FontRef<'static>, px: f64, text: &str) -> Line {
    let font = face.as_scaled(PxScale::from(px as f32));
    let (glyphs, width) = pen_positions(&font, text);
    let mut pixels = Vec::new();
    for (id, x) in glyphs {
        let glyph = id.with_scale_and_position(font.scale(), point(x, font.ascent()));
        if let Some(outline) = face.outline_glyph(glyph) {
            let min = outline.px_bounds().min;
            outline.draw(|gx, gy, c| {
                pixels.push((min.x as i32 + gx as i32, min.y as i32 + gy as i32, c));
            });
        }
    }
    Line {
        pixels,
        size: line_size(&font, width),
    }
}

/// A drawing backend whose text is drawn by [`lay_out`]; everything else
/// goes to the wrapped backend.
pub(crate) struct TextBackend<B> {
    inner: B,
    fonts: Fonts,
}

impl<B: DrawingBackend> TextBackend<B> {
    /// Wrap `inner`, drawing text in `fonts`.
    pub fn new(inner: B, fonts: Fonts) -> TextBackend<B> {
        TextBackend { inner, fonts }
    }
}

type Drawn<B> = Result<(), DrawingErrorKind<<B as DrawingBackend>::ErrorType>>;

impl<B: DrawingBackend> DrawingBackend for TextBackend<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn<B> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Drawn<B> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn<B> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Drawn<B> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn<B> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn<B> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn<B> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn<B> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn<B> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Drawn<B> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = lay_out(self.fonts.face(style.style()), style.size(), text);
        let (width, height) = line.size;
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let turn = style.transform();
        for (x, y, coverage) in line.pixels {
            let (x, y) = turn.transform(x + dx, y + dy);
            let alpha = color.alpha * f64::from(coverage.clamp(0.0, 1.0));
            if alpha > 0.0 {
                let c = BackendColor {
                    alpha,
                    rgb: color.rgb,
                };
                self.inner.draw_pixel((pos.0 + x, pos.1 + y), c)?;
            }
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let font = self
            .fonts
            .face(style.style())
            .as_scaled(PxScale::from(style.size() as f32));
        let (_, width) = pen_positions(&font, text);
        let (w, h) = line_size(&font, width);
        Ok((w.max(0) as u32, h.max(0) as u32))
    }
}
