//! One viewport's part of the frame graph: its renderer's passes into a transient HDR
//! image (with the custom passes at the renderer's after-opaque hook), custom passes before
//! and after the tonemap, an HDR copy for an EXR screenshot, and the tonemap into the
//! viewport's RGBA8 image that the UI shows. A viewport that cannot render (no renderer, no
//! scene, an error) is cleared and says why in its window.

use std::collections::BTreeSet;

use framegraph::{Access, FrameGraph, ImageHandle, ImageInfo};
use render::{GpuScene, Hooks};
use xpg::vk;
use xpg::{Context, Image, ImageDesc, Pipeline};

use super::frame::after_opaque_hook;
use super::viewport::{Viewport, DEFAULT_HDR};

/// Adds viewport `vp`'s passes to `graph`; returns its tonemapped image (None: it is not
/// shown this frame).
pub(super) fn add_viewport_passes<'g>(
    graph: &mut FrameGraph<'g>,
    ctx: &Context,
    vp: &'g mut Viewport,
    scene_gpu: Option<&'g GpuScene>,
    tonemap: Option<&'g Pipeline>,
    user_passes: &'g [crate::passes::UserPass],
    hidden_everywhere: &BTreeSet<u32>,
) -> anyhow::Result<Option<ImageHandle>> {
    let Some(img) = vp.image.as_ref() else { return Ok(None) };
    let (vw, vh) = (img.width, img.height);
    let mut ldr = graph.use_history(&img.ldr, Some(Access::SampledFragment));
    // This viewport's mask and the scene tree's (hidden everywhere).
    let hidden: BTreeSet<u32> = vp.hidden.union(hidden_everywhere).copied().collect();
    let view = vp.camera.view(vw, vh);
    let (shown, failed) = (vp.shown, vp.error.is_some());
    let renderer = vp.renderers.iter_mut().find(|(n, _)| *n == vp.kind).map(|(_, r)| r);
    let hdr_name = format!("viewport {} hdr", vp.id);
    let mut rendered = false;
    let mut depth = None;
    // Custom passes after the opaque geometry (inside the renderer's passes).
    let mut opaque_error: Option<String> = None;
    let mut render_error: Option<String> = None;
    // The same passes as a headless render of the view (render::headless::add_view_passes).
    let mut hdr = match (renderer, scene_gpu, shown, failed) {
        (Some(r), Some(g), true, false) => {
            r.set_hidden_nodes(&hidden);
            // A hook only for custom passes to add there (without one, the raster may draw
            // its grid in the visibility buffer's shading).
            let wanted = user_passes
                .iter()
                .any(|p| p.enabled && p.spec.insert == crate::passes::InsertPoint::AfterOpaque);
            let mut hooks = Hooks::default();
            if wanted {
                hooks.after_opaque =
                    Some(Box::new(after_opaque_hook(user_passes, &mut opaque_error, vw, vh)));
            }
            let (hdr, out) =
                render::headless::add_view_passes(graph, &hdr_name, &mut **r, g, &view, &mut hooks);
            // A renderer that fails shows its error in its viewport; the others go on.
            match out {
                Ok(out) => {
                    rendered = true;
                    depth = out.depth;
                }
                Err(e) => {
                    tracing::error!("viewport {}: {e}", vp.id);
                    render_error = Some(e.to_string());
                }
            }
            hdr
        }
        (r, ..) => {
            let format = r.map_or(DEFAULT_HDR, |r| r.hdr_format());
            graph.create_image(&hdr_name, ImageInfo::d2(vw, vh, format))
        }
    };
    if render_error.is_some() {
        vp.error = render_error;
    }
    vp.pass_error = opaque_error;
    if !rendered {
        let h2 = hdr;
        graph
            .add_pass(&format!("viewport {} clear", vp.id))
            .write(&mut hdr, Access::TransferDst)
            .record(move |pass| pass.clear_color(&h2, [0.02, 0.02, 0.025, 1.0]));
    }
    let hdr_format = graph.image_info(&hdr).map_or(DEFAULT_HDR, |i| i.format);
    if let Some(path) = &vp.screenshot {
        if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("exr"))
        {
            let copy = Image::new(
                ctx,
                &ImageDesc::d2(
                    "viewport hdr copy",
                    vw,
                    vh,
                    hdr_format,
                    vk::ImageUsageFlags::TRANSFER_DST | vk::ImageUsageFlags::TRANSFER_SRC,
                ),
            )?;
            let mut c = graph.import_image(
                "viewport hdr copy",
                copy.raw(),
                copy.view(),
                ImageInfo::d2(vw, vh, hdr_format),
                None,
                Some(Access::TransferSrc),
            );
            let (src, dst) = (hdr, c);
            graph
                .add_pass("viewport hdr copy")
                .read(&hdr, Access::TransferSrc)
                .write(&mut c, Access::TransferDst)
                .record(move |pass| pass.copy_image(&src, &dst));
            vp.hdr_copy = Some(copy);
        }
    }
    let Some(tonemap) = tonemap else {
        // No tonemap (its shader failed to compile): the viewport shows grey.
        let l = ldr;
        graph
            .add_pass(&format!("viewport {} no tonemap", vp.id))
            .read(&hdr, Access::TransferSrc)
            .write(&mut ldr, Access::TransferDst)
            .record(move |pass| pass.clear_color(&l, [0.3, 0.3, 0.3, 1.0]));
        return Ok(Some(ldr));
    };
    // Custom passes on the HDR color; one that cannot run here is reported in the
    // viewport and skipped (nothing of it is added).
    for up in user_passes.iter().filter(|p| p.enabled) {
        if up.spec.insert == crate::passes::InsertPoint::BeforeTonemap && rendered {
            if let Err(e) = crate::passes::add_pass(graph, up, &mut hdr, depth, vw, vh) {
                vp.pass_error = Some(e.to_string());
            }
        }
    }
    crate::add_tonemap_pass(
        graph,
        &format!("viewport {} tonemap", vp.id),
        tonemap,
        &hdr,
        &mut ldr,
        (vw, vh),
    );
    for up in user_passes.iter().filter(|p| p.enabled) {
        if up.spec.insert == crate::passes::InsertPoint::AfterTonemap && rendered {
            if let Err(e) = crate::passes::add_pass(graph, up, &mut ldr, depth, vw, vh) {
                vp.pass_error = Some(e.to_string());
            }
        }
    }
    Ok(Some(ldr))
}
