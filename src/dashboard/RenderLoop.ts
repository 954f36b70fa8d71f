/**
 * Rendering batched per animation frame: any number of events between two
 * frames cost one render. A hidden tab renders nothing until it is shown.
 */

export const renderLoop = (render: () => void): { readonly schedule: () => void } => {
  let pending = false
  const run = () => {
    pending = false
    render()
  }
  return {
    schedule: () => {
      if (pending) return
      pending = true
      requestAnimationFrame(run)
    }
  }
}
