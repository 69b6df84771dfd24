package geo

import "math"

// earthRadiusKM is the mean Earth radius (IUGG).
const earthRadiusKM = 6371.0088

// FibreKMPerMS is how far light travels in optical fibre in one
// millisecond: about two thirds of c, ≈ 200 km/ms.
const FibreKMPerMS = 200.0

// DistanceKM is the great-circle (haversine) distance between two points
// given in decimal degrees.
func DistanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ, dλ := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// FeasibleRadiusKM is the farthest a host can be from a landmark that
// answered a TCP connect in rttMS milliseconds: the signal went there and
// back, so one way took at most rtt/2, at FibreKMPerMS.
func FeasibleRadiusKM(rttMS float64) float64 { return rttMS / 2 * FibreKMPerMS }

// validCoords reports whether lat/lon are degrees on Earth.
func validCoords(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !math.IsNaN(lat) && !math.IsNaN(lon)
}
