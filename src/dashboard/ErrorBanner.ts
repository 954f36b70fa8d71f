/** The banner that shows the last failed action or the daemon's error event, until dismissed or the next success. */
import { byTestId } from "./Dom.js"

export const showError = (message: string): void => {
  byTestId("error-message").textContent = message
  byTestId("error").hidden = false
}

export const clearError = (): void => {
  byTestId("error").hidden = true
}

/** Shows the failure of an action, or clears the banner when it succeeds. */
export const reportErrors = (action: Promise<unknown>): Promise<void> =>
  action.then(clearError, (error: unknown) => showError(error instanceof Error ? error.message : String(error)))

export const wireErrorBanner = (): void => {
  byTestId("error-dismiss").addEventListener("click", clearError)
}
