//! A list the raster builds on the CPU (area lights, the lights with the environment's sun)
//! and keeps in a buffer of its own, written by a transfer pass of the frame's graph when it
//! changed.

use framegraph::{Access, BufferHandle, FrameGraph};
use render::RenderError;
use xpg::{vk, Buffer, Context};

pub(crate) struct DeviceList<T> {
    name: &'static str,
    data: Vec<T>,
    buffer: Option<Buffer>,
    /// Written by a pass of the next graph.
    dirty: bool,
}

impl<T> DeviceList<T> {
    pub(crate) fn new(name: &'static str) -> Self {
        Self { name, data: Vec::new(), buffer: None, dirty: false }
    }
}

impl<T: bytemuck::Pod + PartialEq> DeviceList<T> {
    /// The list (written again only if it changed).
    pub(crate) fn set(&mut self, data: Vec<T>) {
        if data != self.data {
            self.data = data;
            self.dirty = true;
        }
    }

    pub(crate) fn data(&self) -> &[T] {
        &self.data
    }

    /// Imports the buffer into `graph` (None while the list is empty), with a transfer pass
    /// writing it first when the list changed. Returns its handle and device address.
    pub(crate) fn import(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
    ) -> Result<Option<(BufferHandle, u64)>, RenderError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let size = size_of_val(self.data.as_slice()) as u64;
        if self.buffer.as_ref().is_none_or(|b| b.size() < size) {
            // The old buffer is freed once the frames using it are done.
            self.buffer = Some(Buffer::new(
                ctx,
                &xpg::BufferDesc {
                    size: size.next_power_of_two(),
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER
                        | vk::BufferUsageFlags::TRANSFER_DST,
                    memory: xpg::MemoryUsage::GpuOnly,
                    name: self.name,
                },
            )?);
            self.dirty = true;
        }
        let Some(buffer) = self.buffer.as_ref() else { return Ok(None) };
        // Rewritten: the write waits for every earlier use. Else it was last read by an
        // earlier frame's shaders, its write long made visible.
        let initial = (!self.dirty).then_some(Access::StorageReadFragment);
        let mut h = graph.import_buffer(buffer.name(), buffer, initial, None);
        if std::mem::take(&mut self.dirty) {
            let bytes = bytemuck::cast_slice(&self.data).to_vec();
            let hh = h;
            graph
                .add_pass(self.name)
                .write(&mut h, Access::TransferDst)
                .record(move |pc| pc.update_buffer(&hh, 0, &bytes));
        }
        Ok(Some((h, buffer.address())))
    }
}
